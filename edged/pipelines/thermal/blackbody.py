"""Blackbody drift correction and loss detection.

The blackbody sits in the same image at a known set point, so ``set_point - ROI mean`` is the
camera's current offset error, whatever its cause (drift, shutter step, ambient change). The
ROI mean of N pixels has noise NETD/sqrt(N), so seconds of smoothing are plenty; a check on
every frame catches a missing, moved or unstable blackbody on the first frame that shows it.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import cv2
import numpy as np

from edged.config.thermal import BlackbodyConfig

LOCKED, ACQUIRING, LOST = "locked", "acquiring", "lost"


@dataclass(slots=True)
class BlackbodyReading:
    state: str  # locked | acquiring | lost
    offset_c: float  # add to the camera's reading (valid while locked)
    mean_c: float  # this frame's ROI mean (camera reading)
    spatial_std_c: float
    reason: str | None  # why not locked: missing | moved | unstable | jump | drifting | stale | roi_outside

    @property
    def calibrated(self) -> bool:
        return self.state == LOCKED


class BlackbodyMonitor:
    def __init__(self, cfg: BlackbodyConfig) -> None:
        self.cfg = cfg
        self.state = ACQUIRING
        self.reason: str | None = "acquiring"
        self.ref: float | None = None  # smoothed ROI mean while locked
        self._recent: deque[tuple[float, float]] = deque()  # (t, mean) of the last 0.5 s
        self._good: list[tuple[float, float]] = []  # consecutive good frames while (re)acquiring
        self._refs: deque[tuple[float, float]] = deque()  # (t, ref) once a second, last 10 s
        self._last_t: float | None = None
        self._last_good_t = -math.inf
        self._expect_step = False
        self.lost_count = 0

    @property
    def offset_c(self) -> float:
        return self.cfg.set_point_c - self.ref if self.ref is not None else 0.0

    def shutter(self) -> None:
        """A shutter/FFC happened: the camera's offset may step; re-reference on the next good frame."""
        self._expect_step = True
        self._recent.clear()  # the level before the shutter says nothing about stability after it

    def update(self, celsius: np.ndarray, t: float) -> BlackbodyReading:
        x, y, w, h = self.cfg.roi
        roi = celsius[y : y + h, x : x + w]
        if roi.shape != (h, w) or roi.size == 0:
            return self._lose(t, "roi_outside", math.nan, math.nan)
        # Robust statistics: a ROI drawn a pixel too wide (emitter edge inside) must not read as a
        # moved blackbody nor bias the offset; a real occlusion or move shifts them all the same.
        med = float(np.median(roi))
        spread = 1.4826 * float(np.median(np.abs(roi - med)))
        inliers = roi[np.abs(roi - med) <= max(3.0 * spread, 0.05)]
        mean = float(inliers.mean())  # outlier-rejected mean: unbiased, noise / sqrt(N)
        smooth = cv2.blur(roi, (3, 3))[1:-1, 1:-1] if min(h, w) >= 5 else roi
        spatial = 1.4826 * float(np.median(np.abs(smooth - np.median(smooth))))
        self._recent.append((t, mean))
        while self._recent and self._recent[0][0] < t - 0.5:
            self._recent.popleft()
        temporal = float(np.std([m for _, m in self._recent])) if len(self._recent) >= 3 else 0.0
        reason = self._check(mean, spatial, temporal)
        if reason is None and self.state == LOCKED and self._expect_step:
            self._snap(t, mean)
        elif reason is not None and self.state == LOCKED and reason == "jump" and self._expect_step:
            self._snap(t, mean)  # the shutter stepped the offset; blackbody still uniform and plausible
            reason = None
        if reason is not None:
            return self._lose(t, reason, mean, spatial)
        self._last_good_t = t
        if self.state == LOCKED:
            assert self.ref is not None
            dt = t - self._last_t if self._last_t is not None else 0.0
            self.ref += (mean - self.ref) * (1.0 - math.exp(-max(dt, 0.0) / self.cfg.smoothing_s))
            self._last_t = t
            if self._drifting(t):
                return self._lose(t, "drifting", mean, spatial)
        else:
            self._good.append((t, mean))
            if t - self._good[0][0] >= self.cfg.relock_s:
                self._snap(t, float(np.mean([m for _, m in self._good])))
        return self.reading(mean, spatial)

    def age_check(self, t: float) -> BlackbodyReading | None:
        """Frames skipped for a long time (shutter, bad frames): a stale offset is no offset."""
        if self.state == LOCKED and t - self._last_good_t > self.cfg.max_age_s:
            return self._lose(t, "stale", math.nan, math.nan)
        return None

    def reading(self, mean: float = math.nan, spatial: float = math.nan) -> BlackbodyReading:
        return BlackbodyReading(self.state, self.offset_c, mean, spatial, self.reason)

    def _check(self, mean: float, spatial: float, temporal: float) -> str | None:
        cfg = self.cfg
        if not math.isfinite(mean) or abs(mean - cfg.set_point_c) > cfg.plausible_c:
            return "missing"
        if spatial > cfg.max_std_c:
            return "moved"
        if temporal > cfg.max_std_c:
            return "unstable"
        if self.state == LOCKED and self.ref is not None and abs(mean - self.ref) > cfg.max_jump_c:
            return "jump"
        if self.state != LOCKED and self._good:
            start = float(np.mean([m for _, m in self._good]))
            if abs(mean - start) > cfg.max_jump_c:
                return "jump"
        return None

    def _snap(self, t: float, mean: float) -> None:
        self.state, self.reason = LOCKED, None
        self.ref = mean
        self._last_t = t
        self._good.clear()
        self._refs.clear()
        self._expect_step = False

    def _drifting(self, t: float) -> bool:
        """A blackbody that cools or heats far faster than any camera drifts is failing."""
        assert self.ref is not None
        if not self._refs or t - self._refs[-1][0] >= 1.0:
            self._refs.append((t, self.ref))
        while self._refs and self._refs[0][0] < t - 10.0:
            self._refs.popleft()
        span = t - self._refs[0][0]
        return span >= 5.0 and abs(self.ref - self._refs[0][1]) > self.cfg.max_drift_c_per_min * span / 60

    def _lose(self, t: float, reason: str, mean: float, spatial: float) -> BlackbodyReading:
        if self.state == LOCKED:
            self.lost_count += 1
        if self.state != LOST or self.reason != reason:
            self._good.clear()
        self.state, self.reason = LOST, reason
        self._good.clear()
        return self.reading(mean, spatial)
