"""Validity gates: shutter (FFC) frames, sensor noise, face size and the calibrated distance band.

A frame during a flat-field correction, or shortly after it, shows a stale or re-settling image:
it is skipped. Sources that cannot flag FFC (UVC without Lepton telemetry) are checked for the
freeze a Lepton/Boson shows while its shutter is closed (identical frames, or a near-uniform one).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from edged.config.thermal import ThermalConfig
from edged.pipelines.thermal.frame import ThermalFrame


class FfcGate:
    def __init__(self, settle_s: float) -> None:
        self.settle_s = settle_s
        self._prev: np.ndarray | None = None
        self._in_ffc = False
        self._ffc_end_t = -math.inf
        self._live = False  # consecutive frames have differed: the sensor shows noise
        self._frozen_since: float | None = None
        self.shutters = 0

    def check(self, frame: ThermalFrame, celsius: np.ndarray) -> tuple[str | None, bool]:
        """(skip reason or None, True when a shutter event just ended)."""
        ffc = frame.ffc
        if ffc is None:
            ffc = self._frozen(frame.counts, celsius, frame.t)
        ended = False
        if ffc:
            if not self._in_ffc:
                self.shutters += 1
            self._in_ffc = True
            return "ffc", False
        if self._in_ffc:
            self._in_ffc = False
            self._ffc_end_t = frame.t
            ended = True
        if frame.t - self._ffc_end_t < self.settle_s:
            return "ffc_settle", ended
        return None, ended

    def _frozen(self, counts: np.ndarray, celsius: np.ndarray, t: float) -> bool:
        """A real sensor never repeats a frame (NETD noise) except while its shutter is closed, and
        no shutter stays closed for 2 s; a noiseless, static (synthetic) scene is not frozen."""
        prev, self._prev = self._prev, counts.copy()
        if prev is not None and prev.shape == counts.shape and np.array_equal(prev, counts):
            if self._frozen_since is None:
                self._frozen_since = t
            return self._live and t - self._frozen_since < 2.0
        self._live = self._live or prev is not None
        self._frozen_since = None
        smooth = cv2.blur(celsius, (3, 3))[::2, ::2]
        return bool(float(smooth.max() - smooth.min()) < 0.5)  # shutter in view: a flat field


class NoiseEstimator:
    """Per-pixel temporal noise (≈ NETD) from the high-pass residual, robust to edges (MAD)."""

    def __init__(self, default_c: float = 0.05) -> None:
        self.sigma_c = default_c
        self._n = 0

    def update(self, celsius: np.ndarray) -> float:
        self._n += 1
        if self._n > 20 and self._n % 25:
            return self.sigma_c
        resid = celsius - cv2.blur(celsius, (3, 3))
        mad = float(np.median(np.abs(resid - np.median(resid))))
        # residual of a 3x3 mean: variance (1 - 1/9) sigma^2 -> sigma = 1.4826 MAD / sqrt(8/9)
        estimate = 1.4826 * mad / math.sqrt(8 / 9)
        self.sigma_c = estimate if self._n == 1 else 0.8 * self.sigma_c + 0.2 * estimate
        return self.sigma_c


def face_flags(box: tuple[float, float, float, float], cfg: ThermalConfig) -> list[str]:
    """Quality flags from geometry; any of these makes the frame invalid for a decision."""
    flags: list[str] = []
    w = box[2]
    if w < cfg.faces.min_face_px:
        flags.append("face_too_small")
    if cfg.distance is not None:
        d = cfg.distance.focal_px * cfg.distance.face_width_m / max(w, 1e-6)
        near, far = cfg.distance.band_m
        if d < near:
            flags.append("too_near")
        elif d > far:
            flags.append("too_far")
    return flags


def distance_m(box: tuple[float, float, float, float], cfg: ThermalConfig) -> float | None:
    if cfg.distance is None:
        return None
    return cfg.distance.focal_px * cfg.distance.face_width_m / max(box[2], 1e-6)
