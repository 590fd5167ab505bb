"""Thermal fever screening: sources, blackbody reference, faces, tracking, decisions (issue 5)."""
