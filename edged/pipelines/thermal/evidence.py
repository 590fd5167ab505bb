"""Evidence crops of a fever decision: a radiometric thermal crop and, when there is one, a
visible crop. The thermal crop is written twice: a 16-bit PNG of centi-kelvin (lossless, what
an auditor re-measures) and an 8-bit colour PNG for people.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from edged.pipelines.thermal.faces import Box
from edged.pipelines.thermal.frame import KELVIN_0C


def _grow(box: Box, factor: float, w: int, h: int) -> tuple[int, int, int, int] | None:
    x, y, bw, bh = box
    cx, cy = x + bw / 2, y + bh / 2
    half_w, half_h = bw * factor / 2, bh * factor / 2
    x0, y0 = max(0, int(cx - half_w)), max(0, int(cy - half_h))
    x1, y1 = min(w, int(np.ceil(cx + half_w))), min(h, int(np.ceil(cy + half_h)))
    return (x0, y0, x1, y1) if x1 > x0 and y1 > y0 else None


def write_crops(
    directory: Path,
    stem: str,
    celsius: np.ndarray,
    box: Box,
    visible: np.ndarray | None = None,
    homography: np.ndarray | None = None,
) -> dict[str, str | None]:
    directory.mkdir(parents=True, exist_ok=True)
    out: dict[str, str | None] = {
        "thermal_crop": None,
        "thermal_crop_radiometric": None,
        "visible_crop": None,
    }
    h, w = celsius.shape
    area = _grow(box, 1.6, w, h)
    if area is None:
        return out
    x0, y0, x1, y1 = area
    crop = celsius[y0:y1, x0:x1]
    ck = np.clip(np.rint((crop + KELVIN_0C) * 100), 0, 65535).astype(np.uint16)
    raw_path = directory / f"{stem}_thermal16.png"
    cv2.imwrite(str(raw_path), ck)
    lo, hi = float(np.percentile(crop, 2)), float(crop.max())
    norm = ((np.clip(crop, lo, hi) - lo) * (255.0 / max(hi - lo, 0.1))).astype(np.uint8)
    color = cv2.applyColorMap(
        cv2.resize(norm, None, fx=4, fy=4, interpolation=cv2.INTER_NEAREST), cv2.COLORMAP_INFERNO
    )
    color_path = directory / f"{stem}_thermal.png"
    cv2.imwrite(str(color_path), color)
    out["thermal_crop"], out["thermal_crop_radiometric"] = str(color_path), str(raw_path)
    if visible is not None and homography is not None:
        inv = np.linalg.inv(homography)
        pts = np.array([[[x0, y0]], [[x1, y0]], [[x1, y1]], [[x0, y1]]], np.float64)
        vis_pts = cv2.perspectiveTransform(pts, inv).reshape(-1, 2)
        vx0, vy0 = np.maximum(vis_pts.min(axis=0), 0).astype(int)
        vx1, vy1 = vis_pts.max(axis=0).astype(int)
        vcrop = visible[vy0:vy1, vx0:vx1]
        if vcrop.size:
            vis_path = directory / f"{stem}_visible.jpg"
            cv2.imwrite(str(vis_path), vcrop)
            out["visible_crop"] = str(vis_path)
    return out
