"""Per-person face tracks: greedy matching on predicted boxes (IoU, then centre distance).

Thermal faces move smoothly at entrances, so a constant-velocity prediction and greedy
matching suffice. A detection that two tracks both claim (people crossing) is ambiguous: it is
given to the best track but marked, and its reading is not used for a decision.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edged.pipelines.thermal.faces import Box, Face, _iou


@dataclass(slots=True)
class FrameReading:
    t: float
    skin_c: float | None  # robust max this frame (corrected); None when nothing could be read
    width: float  # face width in pixels: bigger faces resolve the canthus better
    valid: bool  # usable for a decision
    flags: list[str]


@dataclass
class Track:
    id: int
    box: Box
    t_start: float
    t_last: float
    vx: float = 0.0
    vy: float = 0.0
    hits: int = 1
    paused_s: float = 0.0  # time since t_last the camera was blind (shutter): not held against it
    readings: list[FrameReading] = field(default_factory=list)
    decided: bool = False
    alarmed: bool = False
    suppressed: bool = False  # re-identified as a person already alarmed
    reading: Any = None  # its first Reading (decisions.Reading) once decided
    # (corrected °C, visible, homography) of the latest frame it was seen in: evidence crops
    evidence: tuple[np.ndarray, np.ndarray | None, np.ndarray | None] | None = None

    def predict(self, t: float) -> Box:
        dt = t - self.t_last
        x, y, w, h = self.box
        return (x + self.vx * dt, y + self.vy * dt, w, h)

    def center(self) -> tuple[float, float]:
        x, y, w, h = self.box
        return x + w / 2, y + h / 2

    def valid_readings(self) -> list[FrameReading]:
        return [r for r in self.readings if r.valid and r.skin_c is not None]


class FaceTracker:
    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self.tracks: list[Track] = []
        self._ids = itertools.count(1)

    def update(self, faces: list[Face], t: float) -> tuple[list[tuple[Track, Face, bool]], list[Track]]:
        """Match faces to tracks; returns (track, face, ambiguous) per face and the tracks that ended."""
        preds = [(tr, tr.predict(t)) for tr in self.tracks]
        pairs: list[tuple[float, int, int]] = []
        for fi, face in enumerate(faces):
            for ti, (_tr, pb) in enumerate(preds):
                score = _match_score(face.box, pb)
                if score > 0:
                    pairs.append((score, fi, ti))
        pairs.sort(reverse=True)
        claims: dict[int, int] = {}
        for score, fi, ti in pairs:  # overlapping two established tracks: people crossing
            if score > 1.0 and preds[ti][0].hits >= 3:
                claims[fi] = claims.get(fi, 0) + 1
        used_f: set[int] = set()
        used_t: set[int] = set()
        out: list[tuple[Track, Face, bool]] = []
        for _score, fi, ti in pairs:
            if fi in used_f or ti in used_t:
                continue
            used_f.add(fi)
            used_t.add(ti)
            tr, face = preds[ti][0], faces[fi]
            self._move(tr, face.box, t)
            out.append((tr, face, claims.get(fi, 0) > 1))
        for fi, face in enumerate(faces):
            if fi not in used_f:
                tr = Track(next(self._ids), face.box, t, t)
                self.tracks.append(tr)
                out.append((tr, face, False))
        ended = [tr for tr in self.tracks if t - tr.t_last - tr.paused_s > self.timeout_s]
        self.tracks = [tr for tr in self.tracks if tr not in ended]
        return out, ended

    def pause(self, dt: float) -> None:
        """The camera is blind for dt (shutter): people are still there, tracks do not age."""
        for tr in self.tracks:
            tr.paused_s += dt

    def flush(self) -> list[Track]:
        ended, self.tracks = self.tracks, []
        return ended

    @staticmethod
    def _move(tr: Track, box: Box, t: float) -> None:
        dt = t - tr.t_last
        if dt > 0:
            ox, oy = tr.center()
            nx, ny = box[0] + box[2] / 2, box[1] + box[3] / 2
            a = 0.5
            tr.vx = (1 - a) * tr.vx + a * (nx - ox) / dt
            tr.vy = (1 - a) * tr.vy + a * (ny - oy) / dt
        tr.box = box
        tr.t_last = t
        tr.paused_s = 0.0
        tr.hits += 1


def _match_score(a: Box, b: Box) -> float:
    iou = _iou(a, b)
    if iou >= 0.1:
        return 1.0 + iou
    ax, ay = a[0] + a[2] / 2, a[1] + a[3] / 2
    bx, by = b[0] + b[2] / 2, b[1] + b[3] / 2
    dist = ((ax - bx) ** 2 + (ay - by) ** 2) ** 0.5
    reach = 0.75 * max(a[2], a[3], b[2], b[3])
    return 1.0 - dist / reach if dist < reach else 0.0
