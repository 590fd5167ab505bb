"""Per-camera video and thermal pipelines: sources, frame ring, motion, tracking, analytics."""
