"""The per-frame face statistic: a robust maximum of the inner canthus (else the whole face).

A plain maximum over N noisy pixels reads high by about sigma * sqrt(2 ln N) (≈ +0.1 °C for
NETD 0.05 over a face), which alone would break a ±0.1 °C target. So the warmest spot is found
on a 3x3-smoothed image (noise / 3), and its value is the mean of the raw pixels of that spot's
plateau: the neighbours whose smoothed value is within noise of the peak. A plateau is averaged
(less noise), a sharp peak keeps its single raw pixel (no blur bias).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edged.pipelines.thermal.faces import Box

TOL_K = 2.0  # plateau tolerance in sigmas of the smoothed image


@dataclass(slots=True)
class PeakReading:
    value_c: float
    x: int
    y: int
    pixels: int  # raw pixels averaged


def clip_box(box: Box, shape: tuple[int, int]) -> tuple[int, int, int, int] | None:
    h, w = shape
    x0, y0 = max(0, int(np.floor(box[0]))), max(0, int(np.floor(box[1])))
    x1, y1 = min(w, int(np.ceil(box[0] + box[2]))), min(h, int(np.ceil(box[1] + box[3])))
    if x1 <= x0 or y1 <= y0:
        return None
    return x0, y0, x1, y1


def robust_peak(
    raw: np.ndarray,
    smooth: np.ndarray,
    box: Box,
    sigma_c: float,
    mask: np.ndarray | None = None,
    exclude: np.ndarray | None = None,
) -> PeakReading | None:
    """Robust max of `raw` inside `box` (and `mask`, box-sized), skipping `exclude` (image-sized)."""
    clipped = clip_box(box, raw.shape)
    if clipped is None:
        return None
    x0, y0, x1, y1 = clipped
    sm = smooth[y0:y1, x0:x1]
    valid = np.ones(sm.shape, bool)
    if mask is not None:
        _mh, _mw = mask.shape
        ox, oy = x0 - int(np.floor(box[0])), y0 - int(np.floor(box[1]))
        sub = mask[oy : oy + sm.shape[0], ox : ox + sm.shape[1]]
        valid[: sub.shape[0], : sub.shape[1]] &= sub
    if exclude is not None:
        valid &= ~exclude[y0:y1, x0:x1]
    if not valid.any():
        return None
    scored = np.where(valid, sm, -np.inf)
    iy, ix = np.unravel_index(int(np.argmax(scored)), scored.shape)
    py, px = int(iy), int(ix)
    peak = float(scored[py, px])
    tol = TOL_K * sigma_c / 3.0
    ya, yb, xa, xb = max(0, py - 2), py + 3, max(0, px - 2), px + 3
    near = scored[ya:yb, xa:xb] >= peak - tol
    near[py - ya, px - xa] = True
    vals = raw[y0:y1, x0:x1][ya:yb, xa:xb][near]
    return PeakReading(float(vals.mean()), x0 + px, y0 + py, int(vals.size))
