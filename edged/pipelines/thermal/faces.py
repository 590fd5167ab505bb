"""Finding faces in a thermal frame.

Order of preference (issue 5): CenterFace on the co-registered visible frame (boxes and eye
landmarks mapped through the homography), else CenterFace on a tone-mapped thermal image,
plus a hot-region fallback for faces CenterFace misses (it was trained on visible light).
Anything hotter than skin can be is masked out as an object (a 60 °C cup never becomes a face).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from edged.config.thermal import FacesConfig
from edged.pipelines.thermal.centerface import CenterFace, Detection, ModelMissing

Box = tuple[float, float, float, float]


@dataclass(slots=True)
class Face:
    box: Box  # x, y, w, h in thermal pixels
    source: str  # visible | centerface | hot_region
    score: float = 1.0
    canthus: Box | None = None  # inner-canthus search box (from eye landmarks), thermal pixels
    mask: np.ndarray | None = None  # bool, box-sized: face pixels (hot_region only)
    flags: list[str] = field(default_factory=list)


def tone_map(celsius: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """White-hot 8-bit image of the skin range, the look CenterFace has a chance on."""
    scaled = (np.clip(celsius, lo, hi) - lo) * (255.0 / (hi - lo))
    return cv2.cvtColor(scaled.astype(np.uint8), cv2.COLOR_GRAY2BGR)


def canthus_box(landmarks: np.ndarray) -> Box:
    """The inner canthi lie between the eyes, a quarter of the eye distance in from each eye."""
    le, re_ = landmarks[0], landmarks[1]
    d = float(np.hypot(*(re_ - le)))
    inner_l = le + 0.2 * (re_ - le)
    inner_r = re_ - 0.2 * (re_ - le)
    x0, x1 = min(inner_l[0], inner_r[0]), max(inner_l[0], inner_r[0])
    yc = float((inner_l[1] + inner_r[1]) / 2)
    pad = max(1.0, 0.15 * d)
    return (float(x0 - pad), yc - pad, float(x1 - x0 + 2 * pad), 2 * pad)


def _warp_points(pts: np.ndarray, hmat: np.ndarray) -> np.ndarray:
    return cv2.perspectiveTransform(pts.reshape(-1, 1, 2).astype(np.float64), hmat).reshape(-1, 2)


def map_detection(det: Detection, hmat: np.ndarray, source: str) -> Face:
    x, y, w, h = det.box
    corners = _warp_points(np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]]), hmat)
    lm = _warp_points(det.landmarks, hmat)
    x0, y0 = corners.min(axis=0)
    x1, y1 = corners.max(axis=0)
    return Face((float(x0), float(y0), float(x1 - x0), float(y1 - y0)), source, det.score, canthus_box(lm))


def hot_regions(smooth: np.ndarray, cfg: FacesConfig, min_px: int = 9) -> list[Face]:
    """Warm blobs: the pixels within `face_band_c` of each local warmest spot, objects masked."""
    hot_obj = smooth > cfg.skin_max_c
    if hot_obj.any():
        hot_obj = cv2.dilate(hot_obj.astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)
    warm = (smooth >= cfg.skin_min_c - cfg.face_band_c) & ~hot_obj
    n, labels, stats, _ = cv2.connectedComponentsWithStats(warm.astype(np.uint8), connectivity=8)
    faces: list[Face] = []
    for i in range(1, n):
        x, y, w, h, area = (int(v) for v in stats[i])
        if area < min_px:
            continue
        comp = labels[y : y + h, x : x + w] == i
        vals = np.where(comp, smooth[y : y + h, x : x + w], -np.inf)
        taken = np.zeros(comp.shape, np.uint8)
        for _ in range(3):  # up to three faces in one warm blob (people side by side)
            peak = float(vals.max())
            if peak < cfg.skin_min_c:
                break
            face_px = vals >= peak - cfg.face_band_c
            _nf, flab = cv2.connectedComponents(face_px.astype(np.uint8), connectivity=8)
            py, px = np.unravel_index(int(np.argmax(vals)), vals.shape)
            region = flab == flab[py, px]
            vals = np.where(region, -np.inf, vals)
            ys, xs = np.nonzero(region)
            touches = bool(cv2.dilate(taken, np.ones((3, 3), np.uint8))[region].any())
            taken[region] = 1
            if len(ys) < min_px or touches:
                continue  # a fringe (neck, cheek) of a face already taken is not another face
            fx0, fx1, fy0, fy1 = int(xs.min()), int(xs.max()) + 1, int(ys.min()), int(ys.max()) + 1
            fw, fh = fx1 - fx0, fy1 - fy0
            fill = len(ys) / (fw * fh)
            if fill < 0.35 or not 0.6 <= fh / fw <= 3.0:
                continue  # a face is a compact, roughly upright blob
            flags = ["hot_object_near"] if hot_obj[y + fy0 : y + fy1, x + fx0 : x + fx1].any() else []
            if _glasses(region[fy0:fy1, fx0:fx1]):
                flags.append("glasses")
            faces.append(
                Face(
                    (float(x + fx0), float(y + fy0), float(fw), float(fh)),
                    "hot_region",
                    mask=region[fy0:fy1, fx0:fx1].copy(),
                    flags=flags,
                )
            )
    return faces


def _glasses(mask: np.ndarray) -> bool:
    """Lenses are opaque in LWIR: two cool holes side by side (or one wide one, with the bridge)
    in the upper face. A cold nose is one narrow hole on the centre line, not glasses."""
    h, w = mask.shape
    if w < 8:
        return False
    inside = mask.astype(np.uint8)
    filled = inside.copy()
    flood = np.zeros((h + 2, w + 2), np.uint8)
    for x in range(w):  # fill from every border pixel that is not face
        for y in (0, h - 1):
            if not filled[y, x]:
                cv2.floodFill(filled, flood, (x, y), 1)
    for y in range(h):
        for x in (0, w - 1):
            if not filled[y, x]:
                cv2.floodFill(filled, flood, (x, y), 1)
    holes = (inside == 0) & (flood[1:-1, 1:-1] == 0)  # not face, not reached from outside
    n, _lab, stats, cents = cv2.connectedComponentsWithStats(holes.astype(np.uint8), connectivity=8)
    blobs = [(stats[i], cents[i]) for i in range(1, n) if stats[i][4] >= 2 and cents[i][1] < 0.6 * h]
    if any(st[2] >= 0.45 * w for st, _c in blobs):
        return True
    for i, (_s1, c1) in enumerate(blobs):
        for _s2, c2 in blobs[i + 1 :]:
            if abs(c1[1] - c2[1]) < 0.12 * h and abs(c1[0] - c2[0]) > 0.2 * w:
                return True
    return False


def _iou(a: Box, b: Box) -> float:
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


class FaceFinder:
    def __init__(self, cfg: FacesConfig, centerface: CenterFace | None = None) -> None:
        self.cfg = cfg
        self.centerface = centerface
        self._n = 0
        if centerface is None and cfg.detector != "hot_region":
            try:
                self.centerface = CenterFace(threshold=cfg.centerface_threshold)
            except (ModelMissing, cv2.error):
                if cfg.detector == "centerface":
                    raise
                self.centerface = None  # auto without the model: hot regions only (logged by the caller)

    def find(
        self, smooth: np.ndarray, visible: np.ndarray | None = None, homography: np.ndarray | None = None
    ) -> list[Face]:
        """Faces in one frame; `smooth` is the 3x3-smoothed corrected °C image."""
        faces: list[Face] = []
        self._n += 1
        every = self.cfg.thermal_centerface_every
        thermal_turn = every > 0 and (self._n - 1) % every == 0
        use_visible = visible is not None and homography is not None
        if self.centerface is not None and (use_visible or thermal_turn):
            if use_visible:
                assert visible is not None and homography is not None
                dets = self.centerface.detect(visible, self.cfg.centerface_max_side)
                faces = [map_detection(d, homography, "visible") for d in dets]
            else:
                lo, hi = self.cfg.skin_min_c - 8.0, self.cfg.skin_max_c - 2.0
                img = tone_map(smooth, lo, hi)
                dets = self.centerface.detect(img, self.cfg.centerface_max_side)
                faces = [map_detection(d, np.eye(3), "centerface") for d in dets]
            faces = [f for f in faces if self._warm_enough(f, smooth)]
        if self.cfg.detector != "centerface":
            for hot in hot_regions(smooth, self.cfg):
                if all(_iou(hot.box, f.box) < 0.2 for f in faces):
                    faces.append(hot)
        return faces

    def _warm_enough(self, face: Face, smooth: np.ndarray) -> bool:
        """A CenterFace box must contain skin-warm pixels (a poster or a screen is not a person)."""
        h, w = smooth.shape
        x, y, bw, bh = face.box
        x0, y0 = max(0, int(x)), max(0, int(y))
        x1, y1 = min(w, int(np.ceil(x + bw))), min(h, int(np.ceil(y + bh)))
        if x1 <= x0 or y1 <= y0:
            return False
        patch = smooth[y0:y1, x0:x1]
        return bool(((patch >= self.cfg.skin_min_c) & (patch <= self.cfg.skin_max_c)).any())
