"""Falling / thrown objects from high-rise windows (高空抛物): detect, locate the floor, keep evidence.

Pipeline per frame: `detect` (background model, foreground gate, small blobs) → `track`
(gravity-aware small-blob tracker) → on track end `classify` (metric fit on the facade plane)
→ `analytic` builds the event and asks `evidence` for the clip and snapshot.
"""
