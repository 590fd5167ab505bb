"""Ground truth and helpers shared by the detection tests."""

from __future__ import annotations

# Hand-drawn ground truth (x1, y1, x2, y2) for the one person in each scikit-image picture.
CAMERA_PERSON = (0.0, 60.0, 330.0, 512.0)
ASTRONAUT_PERSON = (20.0, 15.0, 365.0, 512.0)


def iou(a: tuple[float, ...] | list[float], b: tuple[float, ...] | list[float]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0
