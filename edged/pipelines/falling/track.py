"""Gravity-aware small-blob tracker.

Tracks predict with their last velocity plus half of gravity as it appears at that spot of the
image (drag lies between zero and full gravity), with a gate that grows with speed. A track
with one sighting may jump up to the fastest plausible fall, so an object first seen mid-fall
is still picked up. Long tracks are served first, so noise cannot steal their candidates;
clutter that never moves becomes a "static" track that soaks up its own candidates.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np


@dataclass(slots=True)
class TrackParams:
    max_speed_mps: float = 35.0
    miss_short: int = 2  # frames a 1–3 sighting track survives unseen
    miss_long: int = 8  # ... and a longer one (occluded by a balcony, lost in noise)
    miss_slow: int = 30  # ... and a slow one (a bag drifting down past a window of its own grey)
    static_after: int = 15
    static_px: float = 3.0
    max_len: int = 600
    max_tracks: int = 1500


@dataclass(slots=True)
class Track:
    id: int
    frames: list[int] = field(default_factory=list)
    t: list[float] = field(default_factory=list)
    u: list[float] = field(default_factory=list)
    v: list[float] = field(default_factory=list)
    area: list[int] = field(default_factory=list)
    steps: list[int] = field(default_factory=list)  # tracker steps (frames actually analysed)
    misses: int = 0
    static: bool = False
    gravity: tuple[float, float] = (0.0, 0.0)  # px / frame² at this spot
    speed_px: float = 30.0  # px / frame of max_speed_mps at this spot

    def __len__(self) -> int:
        return len(self.frames)

    def add(self, frame: int, t: float, u: float, v: float, area: int, step: int = 0) -> None:
        self.frames.append(frame)
        self.steps.append(step)
        self.t.append(t)
        self.u.append(u)
        self.v.append(v)
        self.area.append(area)
        self.misses = 0

    def predict(self, frame: int) -> tuple[float, float, float]:
        """Predicted (u, v) at `frame` and the gate radius in pixels."""
        k = frame - self.frames[-1]
        u, v = self.u[-1], self.v[-1]
        if len(self) == 1:
            return u, v, min(self.speed_px * k, 3.0 * self.speed_px) + 3.0
        m = min(len(self), 5)
        span = max(self.frames[-1] - self.frames[-m], 1)
        gu, gv = self.gravity[0] * 0.6, self.gravity[1] * 0.6  # between free fall and drag
        # secant over up to 5 sightings (centroids jitter by ~0.5 px), moved to the last sighting
        vu = (u - self.u[-m]) / span + gu * span / 2
        vv = (v - self.v[-m]) / span + gv * span / 2
        pu = u + vu * k + 0.5 * gu * k * k
        pv = v + vv * k + 0.5 * gv * k * k
        speed = float(np.hypot(vu, vv))
        gate = 3.0 + 0.7 * k + 0.3 * speed * k + 0.4 * float(np.hypot(gu, gv)) * k * k
        return pu, pv, gate + (3.0 if len(self) < 4 else 0.0)

    def stalled(self) -> bool:
        """A moving track now fed by a stationary blob (a ghost, a lamp): its object is gone."""
        if len(self) < 12 or self.static:
            return False
        tail_u, tail_v = self.u[-6:], self.v[-6:]
        if float(np.hypot(np.ptp(tail_u), np.ptp(tail_v))) >= 1.0:
            return False
        span = max(self.frames[-6] - self.frames[-12], 1)
        before = float(np.hypot(self.u[-6] - self.u[-12], self.v[-6] - self.v[-12])) / span
        return before >= 2.0  # it was moving fast; a slow bag may creep < 1 px in 6 frames

    def trim_stall(self) -> None:
        u, v = self.u[-1], self.v[-1]
        keep = len(self)
        while keep > 1 and abs(self.u[keep - 2] - u) < 1.0 and abs(self.v[keep - 2] - v) < 1.0:
            keep -= 1
        for seq in (self.frames, self.t, self.u, self.v, self.area, self.steps):
            del seq[keep:]

    def recent_speed(self) -> float:
        m = min(len(self), 5)
        span = max(self.frames[-1] - self.frames[-m], 1)
        return float(np.hypot(self.u[-1] - self.u[-m], self.v[-1] - self.v[-m])) / span

    def slow(self) -> bool:
        """Moving steadily downward at under 3 px/frame over its last sightings."""
        m = min(len(self), 8)
        span = max(self.frames[-1] - self.frames[-m], 1)
        dv = (self.v[-1] - self.v[-m]) / span
        return 0.1 < dv < 3.0 and self.extent() > 6.0

    def extent(self) -> float:
        return float(np.hypot(np.ptp(self.u), np.ptp(self.v)))


LocalFn = Callable[[float, float], tuple[tuple[float, float], float]]


class Tracker:
    """`local(u, v)` gives (gravity px/frame², max speed px/frame) at a point of the image."""

    def __init__(self, local: LocalFn, params: TrackParams | None = None) -> None:
        self.p = params or TrackParams()
        self.local = local
        self.tracks: list[Track] = []
        self.next_id = 1
        self.steps = 0  # frames analysed; the source index may jump when the camera skips frames

    def step(self, frame: int, t: float, xy: np.ndarray, area: np.ndarray) -> list[Track]:
        """Feed one frame's candidates; returns tracks that ended (moving ones only)."""
        self.steps += 1
        n = len(xy)
        taken = np.zeros(n, bool)
        order = sorted(self.tracks, key=lambda tr: (tr.static, -len(tr)))
        if n and order:
            pred = np.array([tr.predict(frame) for tr in order])
            d = np.hypot(pred[:, 0:1] - xy[None, :, 0], pred[:, 1:2] - xy[None, :, 1])
            within = d <= pred[:, 2:3]
            rows = np.nonzero(within.any(axis=1))[0]
            for r in rows:
                ok = within[r] & ~taken
                tr = order[r]
                if len(tr) >= 5 and not tr.static:
                    # a fast track does not stop dead: a blob at its last spot is its own ghost
                    k = frame - tr.frames[-1]
                    step_px = np.hypot(xy[:, 0] - tr.u[-1], xy[:, 1] - tr.v[-1])
                    speed = tr.recent_speed()
                    if speed >= 3.0:
                        ok &= step_px >= 0.35 * speed * k
                cand = np.where(ok, d[r], np.inf)
                j = int(np.argmin(cand))
                if np.isfinite(cand[j]):
                    taken[j] = True
                    tr = order[r]
                    tr.add(frame, t, float(xy[j, 0]), float(xy[j, 1]), int(area[j]), self.steps)
        ended: list[Track] = []
        alive: list[Track] = []
        for tr in self.tracks:
            if tr.frames[-1] != frame:
                tr.misses += 1
            limit = self.p.miss_long if len(tr) >= 4 else self.p.miss_short
            if len(tr) >= 8 and not tr.static and tr.slow():
                limit = self.p.miss_slow
            if tr.stalled():
                tr.trim_stall()
                if len(tr) >= 4:
                    ended.append(tr)
                continue
            if tr.misses > limit or len(tr) >= self.p.max_len:
                if not tr.static and len(tr) >= 4:
                    ended.append(tr)
                continue
            if not tr.static and len(tr) >= self.p.static_after and tr.extent() < self.p.static_px:
                tr.static = True
            alive.append(tr)
        for j in np.nonzero(~taken)[0][: max(self.p.max_tracks - len(alive), 0)]:
            u, v = float(xy[j, 0]), float(xy[j, 1])
            grav, speed = self.local(u, v)
            tr = Track(self.next_id, gravity=grav, speed_px=speed)
            self.next_id += 1
            tr.add(frame, t, u, v, int(area[j]), self.steps)
            alive.append(tr)
        self.tracks = alive
        return ended

    def flush(self) -> list[Track]:
        ended = [tr for tr in self.tracks if not tr.static and len(tr) >= 4]
        self.tracks = []
        return ended
