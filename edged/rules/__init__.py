"""Local linkage rules: time-critical reactions that must not wait for the central server."""
