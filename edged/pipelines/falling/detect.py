"""Small moving blobs at full resolution, cheap enough for 1080p at 25 fps on one core.

A 2–4 px object is invisible to a DNN at any affordable input size, so this stage is classic:
a running-average background, compared against each frame through a 5×5 min/max envelope
(tolerates camera shake up to 2 px without estimating it), a threshold that follows the
measured noise, a global gain estimate (auto-gain steps and flicker scale the background
instead of lighting up the whole frame), and a foreground-fraction gate for what is left
(sudden exposure jumps): the model is reset instead of feeding thousands of blobs onward.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

BLOCK = 4


@dataclass(slots=True)
class DetectorParams:
    alpha: float = 0.08  # background learning rate per update
    update_every: int = 2  # frames between background updates
    k_sigma: float = 4.0  # threshold in noise sigmas
    min_threshold: int = 7
    envelope_px: int = 5  # min/max window: shake tolerance = (envelope_px - 1) / 2
    gate_fraction: float = 0.02  # foreground fraction above which the frame is not trusted
    max_blob_area: int = 900
    max_candidates: int = 400
    warmup_frames: int = 5
    noise_fraction: float = 1e-4  # the threshold leaves at most this fraction of pixels as noise
    clutter_rate: float = 0.05  # per-frame learning rate of the flicker map (4×4 blocks)
    shake_px: int = 4  # largest camera shake searched for, per frame
    hold_frames: int = 12  # a block stays out of the background update at most this long
    clutter_max: float = 0.25  # blocks toggling this often are clutter (edges under shake, glints)


@dataclass(slots=True)
class Candidates:
    xy: np.ndarray  # N×2 float (u, v) centroids
    area: np.ndarray  # N int
    status: str  # "ok", "warmup", "gated"
    fg_fraction: float


class ForegroundDetector:
    def __init__(
        self, shape: tuple[int, int], valid: np.ndarray | None, params: DetectorParams | None = None
    ):
        self.p = params or DetectorParams()
        self.shape = shape
        self.valid = valid  # uint8, 255 where detection is allowed (None: everywhere)
        self.valid_px = int(np.count_nonzero(valid)) if valid is not None else shape[0] * shape[1]
        self.bg: np.ndarray | None = None
        self.bg_u8 = np.zeros(shape, np.uint8)
        self.env_hi = np.zeros(shape, np.uint8)
        self.env_lo = np.zeros(shape, np.uint8)
        self.kernel = np.ones((self.p.envelope_px, self.p.envelope_px), np.uint8)
        self.sigma = 2.0
        self.threshold = self.p.min_threshold
        self.frames = 0
        self.shift = (0, 0)
        self.bg_cols = np.zeros(0, np.float32)
        self.bg_rows = np.zeros(0, np.float32)
        self.since_reset = 0
        self.resets = 0
        # how often each 4×4 block toggles in/out of the foreground: edges under shake and rain
        # glints flicker; a slow object (0.5 px/frame) is on for many frames, then off
        self.clutter = np.zeros((shape[0] // BLOCK, shape[1] // BLOCK), np.float32)
        self.prev_hit = np.zeros_like(self.clutter)
        self.on_frames = np.zeros(self.clutter.shape, np.uint16)  # consecutive frames in the foreground
        self.hist_threshold = self.p.min_threshold
        self._hold: np.ndarray | None = None  # 4×4 blocks of fresh foreground, kept out of the background

    def reset(self, gray: np.ndarray) -> None:
        self.bg = gray.astype(np.float32)
        self.since_reset = 0
        self._refresh()

    def _refresh(self) -> None:
        assert self.bg is not None
        cv2.convertScaleAbs(self.bg, dst=self.bg_u8)
        cv2.dilate(self.bg_u8, self.kernel, dst=self.env_hi)
        cv2.erode(self.bg_u8, self.kernel, dst=self.env_lo)
        self.bg_cols = np.diff(cv2.reduce(self.bg_u8, 0, cv2.REDUCE_AVG, dtype=cv2.CV_32F).ravel())
        self.bg_rows = np.diff(cv2.reduce(self.bg_u8, 1, cv2.REDUCE_AVG, dtype=cv2.CV_32F).ravel())

    def _shift_1d(self, cur: np.ndarray, ref: np.ndarray) -> int:
        """Integer s with cur[i + s] ≈ ref[i], from edge profiles; 0 unless clearly better."""
        r = self.p.shake_px
        n = len(ref)
        if n <= 4 * r:
            return 0
        base = ref[r : n - r]
        errs = [float(np.mean((cur[r + k : n - r + k] - base) ** 2)) for k in range(-r, r + 1)]
        best = int(np.argmin(errs))
        return best - r if errs[best] < 0.7 * errs[r] else 0

    def _align(self, gray: np.ndarray, gain: float) -> np.ndarray:
        """Undo camera shake (integer pixels) so the frame lines up with the background.

        Column and row mean profiles cost ~1 ms at 1080p, against ~20 ms for phase correlation;
        the 5×5 envelope absorbs the sub-pixel rest. Candidates then live in the background's
        (the calibration's) coordinates, so shake never enters a trajectory.
        """
        cols = np.diff(cv2.reduce(gray, 0, cv2.REDUCE_AVG, dtype=cv2.CV_32F).ravel()) / gain
        rows = np.diff(cv2.reduce(gray, 1, cv2.REDUCE_AVG, dtype=cv2.CV_32F).ravel()) / gain
        dx, dy = self._shift_1d(cols, self.bg_cols), self._shift_1d(rows, self.bg_rows)
        self.shift = (dx, dy)
        if dx == 0 and dy == 0:
            return gray
        h, w = gray.shape
        out = self.bg_u8.copy()  # the uncovered border reads as background: no foreground there
        src = (slice(max(dy, 0), h + min(dy, 0)), slice(max(dx, 0), w + min(dx, 0)))
        dst = (slice(max(-dy, 0), h + min(-dy, 0)), slice(max(-dx, 0), w + min(-dx, 0)))
        out[dst] = gray[src]
        return out

    def _estimate_noise(self, gray: np.ndarray) -> None:
        d = gray[::7, ::7].astype(np.int16) - self.bg_u8[::7, ::7].astype(np.int16)
        mad = float(np.median(np.abs(d - np.median(d))))
        self.sigma = 0.8 * self.sigma + 0.2 * max(mad * 1.4826, 0.5)
        self.threshold = max(self.p.min_threshold, round(self.p.k_sigma * self.sigma), self.hist_threshold)

    def _threshold_from(self, diff: np.ndarray) -> None:
        """Raise the threshold until noise (compression blocks, rain glints) is a sliver of the frame.

        The MAD of a compressed stream's residual underestimates its tails, so the tail is
        measured directly: the level exceeded by `noise_fraction` of the valid pixels.
        """
        # per tile of a 4×4 grid, then the median tile: an object (or a lit window) is local and
        # must not raise the threshold above its own contrast; sensor noise and rain are global
        h, w = diff.shape
        levels = []
        for i in range(4):
            for j in range(4):
                ys, xs = slice(i * h // 4, (i + 1) * h // 4), slice(j * w // 4, (j + 1) * w // 4)
                valid = None if self.valid is None else self.valid[ys, xs]
                hist = cv2.calcHist([diff[ys, xs]], [0], valid, [256], [0, 256]).ravel()
                n = float(hist.sum())
                if n < 100:
                    continue
                tail = np.cumsum(hist[::-1])[::-1]  # tail[k] = pixels with diff >= k
                allowed = self.p.noise_fraction * n
                levels.append(int(np.argmax(tail <= allowed)) if tail[-1] <= allowed else 255)
        level = int(np.median(levels)) if levels else self.p.min_threshold
        target = min(max(level + 1, self.p.min_threshold), 80)
        # rise at once, relax slowly: a burst of glints should not open the gate the next frame
        self.hist_threshold = target if target > self.hist_threshold else max(self.hist_threshold - 1, target)
        self.threshold = max(self.p.min_threshold, round(self.p.k_sigma * self.sigma), self.hist_threshold)

    def process(self, gray: np.ndarray) -> Candidates:
        empty = np.empty((0, 2), np.float32)
        self.frames += 1
        if self.bg is None:
            self.reset(gray)
            return Candidates(empty, np.empty(0, np.int32), "warmup", 0.0)
        self.since_reset += 1
        if self.frames % 25 == 1:
            self._estimate_noise(gray)
        sub_g = gray[::16, ::16]
        sub_b = self.bg_u8[::16, ::16]
        gain = float(sub_g.mean()) / max(float(sub_b.mean()), 1.0)
        gray = self._align(gray, gain)
        thr = self.threshold
        if abs(gain - 1.0) > 0.01:
            hi = cv2.convertScaleAbs(self.env_hi, alpha=gain, beta=0)
            lo = cv2.convertScaleAbs(self.env_lo, alpha=gain, beta=0)
        else:
            hi, lo = self.env_hi, self.env_lo
        up = cv2.subtract(gray, hi)
        down = cv2.subtract(lo, gray)
        diff = cv2.max(up, down)
        if self.frames % 4 == 2:
            self._threshold_from(diff)
            thr = self.threshold
        _, fg = cv2.threshold(diff, thr, 255, cv2.THRESH_BINARY)
        if self.valid is not None:
            cv2.bitwise_and(fg, self.valid, dst=fg)
        count = cv2.countNonZero(fg)
        frac = count / max(self.valid_px, 1)
        if frac > self.p.gate_fraction:
            self.resets += 1
            self.reset(gray)
            return Candidates(empty, np.empty(0, np.int32), "gated", frac)
        self._hold = None
        if self.since_reset < self.p.warmup_frames or count == 0:
            self._flicker(np.zeros_like(self.clutter))
            status = "warmup" if self.since_reset < self.p.warmup_frames else "ok"
            cands = Candidates(empty, np.empty(0, np.int32), status, frac)
        else:
            cands = self._blobs(fg, frac)
        if self.since_reset % self.p.update_every == 0:
            self._update(gray, gain)
        return cands

    def _update(self, gray: np.ndarray, gain: float) -> None:
        """Learn the background, except under fresh foreground: a slow object (a bag at 1 m/s, a
        throw near its apex) must not be absorbed; persistent changes (a window lit) are clutter
        blocks and are learnt."""
        assert self.bg is not None
        rate = self.p.alpha if abs(gain - 1.0) < 0.03 else min(1.0, self.p.alpha * 4)
        mask = None
        if self._hold is not None:
            h, w = gray.shape
            hold = cv2.resize(self._hold, (w, h), interpolation=cv2.INTER_NEAREST)
            mask = cv2.bitwise_not(hold)
        cv2.accumulateWeighted(gray, self.bg, rate, mask)
        self._refresh()

    def _flicker(self, hit: np.ndarray) -> None:
        cv2.accumulateWeighted(cv2.absdiff(hit, self.prev_hit), self.clutter, self.p.clutter_rate)
        self.prev_hit = hit
        self.on_frames = np.where(hit > 0, np.minimum(self.on_frames + 1, 60000), 0).astype(np.uint16)

    def _blobs(self, fg: np.ndarray, frac: float) -> Candidates:
        """Group foreground pixels into blobs: labels on a 4×4 block grid, centroids at full res.

        Labelling the full-resolution mask costs ~20 ms at 1080p; the block grid costs ~1 ms and
        also joins the pieces of a thin streak, while the centroids still come from the pixels.
        """
        pts = cv2.findNonZero(fg)
        if pts is None:
            return Candidates(np.empty((0, 2), np.float32), np.empty(0, np.int32), "ok", frac)
        pts = pts.reshape(-1, 2)
        b = BLOCK
        h, w = fg.shape
        coarse = cv2.resize(fg, (w // b, h // b), interpolation=cv2.INTER_AREA)
        hit = (coarse > 0).astype(np.float32)
        self._flicker(hit)
        # hold back fresh foreground only: a block held for long would never learn and stay lit
        fresh = (coarse > 0) & (self.clutter < self.p.clutter_max) & (self.on_frames <= self.p.hold_frames)
        self._hold = fresh.astype(np.uint8) * 255
        n, labels, stats, _ = cv2.connectedComponentsWithStats(coarse, connectivity=8)
        if n <= 1:
            return Candidates(np.empty((0, 2), np.float32), np.empty(0, np.int32), "ok", frac)
        cy = np.minimum(pts[:, 1] // b, labels.shape[0] - 1)
        cx = np.minimum(pts[:, 0] // b, labels.shape[1] - 1)
        lab = labels[cy, cx]
        area = np.bincount(lab, minlength=n)
        with np.errstate(invalid="ignore", divide="ignore"):
            mu = np.bincount(lab, weights=pts[:, 0], minlength=n) / area
            mv = np.bincount(lab, weights=pts[:, 1], minlength=n) / area
        mu, mv = np.nan_to_num(mu), np.nan_to_num(mv)
        ok = (area > 0) & (area <= self.p.max_blob_area)
        ok &= (stats[:, cv2.CC_STAT_WIDTH] * b < 80) & (stats[:, cv2.CC_STAT_HEIGHT] * b < 120)
        ok[0] = False
        by, bx = np.minimum(mv // b, labels.shape[0] - 1), np.minimum(mu // b, labels.shape[1] - 1)
        ok[1:] &= self.clutter[by[1:].astype(np.intp), bx[1:].astype(np.intp)] < self.p.clutter_max
        idx = np.nonzero(ok)[0]
        if len(idx) > self.p.max_candidates:
            idx = idx[np.argsort(-area[idx])[: self.p.max_candidates]]
        xy = np.column_stack([mu[idx], mv[idx]]).astype(np.float32)
        return Candidates(xy, area[idx].astype(np.int32), "ok", frac)
