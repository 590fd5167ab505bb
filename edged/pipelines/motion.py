"""Motion regions from a running-average background, on a frame scaled down for speed.

Motion gates detection: the detector sees only regions that changed (plus tracked objects),
and a stationary scene costs no inference except the periodic re-check.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from edged.pipelines.geometry import Box


class MotionDetector:
    def __init__(
        self,
        width: int = 320,
        threshold: int = 25,
        min_area: float = 0.0005,
        alpha: float = 0.05,
        masks: Sequence[Sequence[Sequence[float]]] = (),
    ) -> None:
        self.width = width
        self.threshold = threshold
        self.min_area = min_area
        self.alpha = alpha
        self._masks = [np.asarray(m, dtype=np.float32) for m in masks]  # full-frame pixel coords
        self._bg: np.ndarray | None = None
        self._keep: np.ndarray | None = None  # 1 where motion counts, 0 under masks
        self._scale = 1.0
        self._shape: tuple[int, int] = (0, 0)
        self._kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))

    def _prepare(self, image: np.ndarray) -> np.ndarray:
        h, w = image.shape[:2]
        if (h, w) != self._shape:
            self._shape = (h, w)
            self._scale = min(1.0, self.width / w)
            self._bg = None
            sw, sh = max(1, round(w * self._scale)), max(1, round(h * self._scale))
            keep = np.ones((sh, sw), np.uint8)
            for poly in self._masks:
                cv2.fillPoly(keep, [np.round(poly * self._scale).astype(np.int32)], 0)
            self._keep = keep
        assert self._keep is not None
        size = (self._keep.shape[1], self._keep.shape[0])
        small = image if self._scale == 1.0 else cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        gray = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY) if small.ndim == 3 else small
        return cv2.GaussianBlur(gray, (5, 5), 0)

    def update(self, image: np.ndarray) -> list[Box]:
        """Feed one frame; return moving regions in full-frame pixels (none on the first frame)."""
        gray = self._prepare(image)
        if self._bg is None:
            self._bg = gray.astype(np.float32)
            return []
        diff = cv2.absdiff(gray, cv2.convertScaleAbs(self._bg))
        cv2.accumulateWeighted(gray, self._bg, self.alpha)
        _, fg = cv2.threshold(diff, self.threshold, 255, cv2.THRESH_BINARY)
        fg = cv2.bitwise_and(fg, fg, mask=self._keep)
        fg = cv2.dilate(fg, self._kernel, iterations=2)
        n, _, stats, _ = cv2.connectedComponentsWithStats(fg, connectivity=8)
        min_px = self.min_area * fg.shape[0] * fg.shape[1]
        inv = 1.0 / self._scale
        boxes: list[Box] = []
        for i in range(1, n):
            x, y, w, h, area = (int(v) for v in stats[i])
            if area >= min_px:
                boxes.append((x * inv, y * inv, (x + w) * inv, (y + h) * inv))
        return boxes
