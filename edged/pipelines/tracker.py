"""ByteTrack-style multi-object tracker with a constant-velocity Kalman filter per object.

Written here rather than taken from a library: the maintained ones (supervision, boxmot,
norfair) pull in scipy/torch/matplotlib, far beyond the camera worker's 150 MB budget, and
the algorithm is ~150 lines. Association uses buffered IoU (C-BIoU, Yang et al. 2022): boxes
grown by 30 % still overlap when a fast object moves most of its width between detections.
Lifecycle (as in Frigate): detections below `min_score` are ignored; low-but-valid scores
only continue existing tracks (ByteTrack's second stage); an object is confirmed once the
median of its score history reaches `threshold`.
"""

from __future__ import annotations

import statistics
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from edged.detection.types import Detection
from edged.pipelines.geometry import Box, iou_matrix


def _xyah(box: Box) -> np.ndarray:
    x1, y1, x2, y2 = box
    return np.array([(x1 + x2) / 2, (y1 + y2) / 2, max(x2 - x1, 1.0), max(y2 - y1, 1.0)])


def _buffered(boxes: np.ndarray, ratio: float) -> np.ndarray:
    """Grow boxes by `ratio` of their size (C-BIoU): fast objects at 5 fps still overlap."""
    if len(boxes) == 0 or ratio <= 0:
        return boxes
    w = (boxes[:, 2] - boxes[:, 0]) * ratio / 2
    h = (boxes[:, 3] - boxes[:, 1]) * ratio / 2
    return np.stack([boxes[:, 0] - w, boxes[:, 1] - h, boxes[:, 2] + w, boxes[:, 3] + h], axis=1)


class Kalman:
    """State [cx, cy, w, h, vcx, vcy, vw, vh]; noise scales with the box height."""

    def __init__(self, box: Box) -> None:
        z = _xyah(box)
        self.x = np.concatenate([z, np.zeros(4)])
        h = z[3]
        self.P = np.diag(np.square([0.1 * h, 0.1 * h, 0.1 * h, 0.1 * h, 1.0 * h, 1.0 * h, 0.5 * h, 0.5 * h]))
        self._H = np.hstack([np.eye(4), np.zeros((4, 4))])

    def predict(self, dt: float) -> None:
        if dt <= 0:
            return
        f = np.eye(8)
        f[:4, 4:] = np.eye(4) * dt
        h = self.x[3]
        q = np.square([0.05 * h, 0.05 * h, 0.05 * h, 0.05 * h, 0.5 * h, 0.5 * h, 0.1 * h, 0.1 * h]) * dt
        self.x = f @ self.x
        self.P = f @ self.P @ f.T + np.diag(q)

    def update(self, box: Box) -> None:
        z = _xyah(box)
        r = np.diag(np.square([0.05 * z[3]] * 4))
        s = self._H @ self.P @ self._H.T + r
        k = self.P @ self._H.T @ np.linalg.inv(s)
        self.x = self.x + k @ (z - self._H @ self.x)
        self.P = (np.eye(8) - k @ self._H) @ self.P

    @property
    def box(self) -> Box:
        cx, cy, w, h = (float(v) for v in self.x[:4])
        w, h = max(w, 1.0), max(h, 1.0)
        return (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)


@dataclass
class Track:
    id: int
    cls: str  # the label of the detections it follows (Detection.label)
    kf: Kalman
    t_first: float
    t_last: float
    box: Box  # last matched detection box
    scores: deque[float] = field(default_factory=deque)
    hits: int = 1
    confirmed: bool = False
    updated: bool = True  # matched in the latest update

    @property
    def score(self) -> float:
        return self.scores[-1] if self.scores else 0.0

    def median_score(self) -> float:
        scores = list(self.scores)
        scores += [0.0] * max(0, 3 - len(scores))  # one lucky frame never confirms an object
        return float(statistics.median(scores))


class Tracker:
    def __init__(
        self,
        min_score: float = 0.3,
        threshold: float = 0.5,
        history: int = 10,
        match_iou: float = 0.2,
        max_age_s: float = 2.0,
        buffer: float = 0.3,
    ) -> None:
        self.min_score = min_score
        self.threshold = threshold
        self.history = history
        self.match_iou = match_iou
        self.max_age_s = max_age_s
        self.buffer = buffer
        self.tracks: dict[int, Track] = {}
        self._next_id = 1
        self._t: float | None = None

    def predicted_boxes(self) -> list[Box]:
        return [tr.kf.box for tr in self.tracks.values()]

    def hold(self, t: float) -> None:
        """Nothing moved, so nothing was detected: objects seen last time are still there."""
        for tr in self.tracks.values():
            if tr.updated:
                tr.t_last = t

    def update(self, detections: list[Detection], t: float) -> list[Track]:
        """Advance to time t with this frame's detections; returns live tracks (removed: gone)."""
        dt = 0.0 if self._t is None else max(0.0, t - self._t)
        self._t = t
        for tr in self.tracks.values():
            tr.kf.predict(dt)
            tr.updated = False
        dets = [d for d in detections if d.score >= self.min_score]
        high = [d for d in dets if d.score >= self.threshold]
        low = [d for d in dets if d.score < self.threshold]
        unmatched_tracks = list(self.tracks.values())
        unmatched_high = self._associate(unmatched_tracks, high, t)
        self._associate(unmatched_tracks, low, t)
        for d in unmatched_high:
            self._start(d, t)
        for tr in list(self.tracks.values()):
            if not tr.updated and t - tr.t_last > self.max_age_s:
                del self.tracks[tr.id]
        return list(self.tracks.values())

    def _associate(self, tracks: list[Track], dets: list[Detection], t: float) -> list[Detection]:
        """Greedy IoU matching (same label); matched tracks are removed from `tracks`."""
        if not tracks or not dets:
            return list(dets)
        iou = iou_matrix(
            _buffered(np.array([tr.kf.box for tr in tracks], dtype=np.float32), self.buffer),
            _buffered(np.array([d.box for d in dets], dtype=np.float32), self.buffer),
        )
        for i, tr in enumerate(tracks):
            for j, d in enumerate(dets):
                if tr.cls != d.label:
                    iou[i, j] = 0.0
        used_t: set[int] = set()
        used_d: set[int] = set()
        for flat in np.argsort(-iou, axis=None):
            i, j = divmod(int(flat), iou.shape[1])
            if iou[i, j] < self.match_iou:
                break
            if i in used_t or j in used_d:
                continue
            used_t.add(i)
            used_d.add(j)
            self._continue(tracks[i], dets[j], t)
        tracks[:] = [tr for i, tr in enumerate(tracks) if i not in used_t]
        return [d for j, d in enumerate(dets) if j not in used_d]

    def _continue(self, tr: Track, d: Detection, t: float) -> None:
        tr.kf.update(d.box)
        tr.box = d.box
        tr.t_last = t
        tr.hits += 1
        tr.updated = True
        tr.scores.append(d.score)
        while len(tr.scores) > self.history:
            tr.scores.popleft()
        if not tr.confirmed and tr.median_score() >= self.threshold:
            tr.confirmed = True

    def _start(self, d: Detection, t: float) -> None:
        tr = Track(self._next_id, d.label, Kalman(d.box), t, t, d.box, deque([d.score]))
        tr.confirmed = tr.median_score() >= self.threshold
        self.tracks[tr.id] = tr
        self._next_id += 1
