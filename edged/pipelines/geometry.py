"""Small plane geometry for zones, lines and masks (pixels, y down)."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

Box = tuple[float, float, float, float]  # x1, y1, x2, y2
Point = tuple[float, float]


def scale_points(points: Sequence[Sequence[float]], factor: float) -> list[Point]:
    return [(float(p[0]) * factor, float(p[1]) * factor) for p in points]


class Polygon:
    """A closed polygon with a fast point-inside test."""

    def __init__(self, points: Sequence[Sequence[float]]) -> None:
        self.points = [(float(p[0]), float(p[1])) for p in points]
        self._contour = np.array(self.points, dtype=np.float32).reshape(-1, 1, 2)

    def contains(self, p: Point) -> bool:
        return cv2.pointPolygonTest(self._contour, (float(p[0]), float(p[1])), False) >= 0

    def as_int(self) -> np.ndarray:
        return np.round(self._contour).astype(np.int32)


def anchor_point(box: Box, anchor: str) -> Point:
    """The point of a box tested against zones: feet ('bottom') or centre."""
    x1, y1, x2, y2 = box
    return ((x1 + x2) / 2, y2 if anchor == "bottom" else (y1 + y2) / 2)


def side_of(a: Point, b: Point, p: Point) -> float:
    """Signed distance of p from the line a→b; > 0 is the walker's right (image y down)."""
    dx, dy = b[0] - a[0], b[1] - a[1]
    return (dx * (p[1] - a[1]) - dy * (p[0] - a[0])) / float(np.hypot(dx, dy))


def segments_intersect(p1: Point, p2: Point, q1: Point, q2: Point) -> bool:
    """True when segment p1-p2 meets segment q1-q2 (touching counts)."""

    def orient(a: Point, b: Point, c: Point) -> float:
        return (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])

    def on_seg(a: Point, b: Point, c: Point) -> bool:
        return min(a[0], b[0]) <= c[0] <= max(a[0], b[0]) and min(a[1], b[1]) <= c[1] <= max(a[1], b[1])

    d1, d2 = orient(q1, q2, p1), orient(q1, q2, p2)
    d3, d4 = orient(p1, p2, q1), orient(p1, p2, q2)
    if ((d1 > 0 > d2) or (d1 < 0 < d2)) and ((d3 > 0 > d4) or (d3 < 0 < d4)):
        return True
    return (
        (d1 == 0 and on_seg(q1, q2, p1))
        or (d2 == 0 and on_seg(q1, q2, p2))
        or (d3 == 0 and on_seg(p1, p2, q1))
        or (d4 == 0 and on_seg(p1, p2, q2))
    )


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box in a (N×4) with every box in b (M×4), x1y1x2y2."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)), dtype=np.float32)
    ix1 = np.maximum(a[:, None, 0], b[None, :, 0])
    iy1 = np.maximum(a[:, None, 1], b[None, :, 1])
    ix2 = np.minimum(a[:, None, 2], b[None, :, 2])
    iy2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(ix2 - ix1, 0, None) * np.clip(iy2 - iy1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0).astype(np.float32)


def union_box(boxes: Sequence[Box], pad: float, width: int, height: int) -> Box | None:
    """Bounding box of all boxes, padded and clipped to the frame; None for no boxes."""
    if not boxes:
        return None
    arr = np.asarray(boxes, dtype=np.float32)
    x1 = max(0.0, float(arr[:, 0].min()) - pad)
    y1 = max(0.0, float(arr[:, 1].min()) - pad)
    x2 = min(float(width), float(arr[:, 2].max()) + pad)
    y2 = min(float(height), float(arr[:, 3].max()) + pad)
    return (x1, y1, x2, y2) if x2 > x1 and y2 > y1 else None
