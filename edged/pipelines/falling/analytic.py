"""The falling-object analytic: one object per facade camera, the same live and offline.

Frames in, `falling_object` events out (design.md's fields). Evidence (clip and snapshot) is
delegated to an `Evidence` sink; without one, `clip` and `snapshot` are null.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Protocol

import cv2
import numpy as np

from edged.config.camera import CameraConfig
from edged.events import Event, Priority, new_event
from edged.pipelines.falling import metrics
from edged.pipelines.falling.classify import ClassifyParams, Decision, classify
from edged.pipelines.falling.detect import DetectorParams, ForegroundDetector
from edged.pipelines.falling.geometry import (
    RELEASE_D_EST_M,
    RELEASE_D_MAX_M,
    UNSEEN_D_EST_M,
    UNSEEN_D_MAX_M,
    FacadeGeometry,
)
from edged.pipelines.falling.track import Track, Tracker, TrackParams
from edged.pipelines.frame import Frame

G = 9.81
PRE_ROLL_S = 10.0
POST_ROLL_S = 5.0


class Evidence(Protocol):
    def feed(self, frame: Frame) -> None: ...

    def request_clip(
        self, name: str, t_from: float, t_to: float, wall_from: float, wall_to: float
    ) -> str: ...

    def snapshot(self, name: str, image: np.ndarray, track: Track) -> str: ...

    def poll(self, frame: Frame) -> None: ...

    def close(self) -> None: ...


class FallingAnalytic:
    name = "falling"

    def __init__(
        self,
        camera: CameraConfig,
        evidence: Evidence | None = None,
        detector: DetectorParams | None = None,
        tracker: TrackParams | None = None,
        classifier: ClassifyParams | None = None,
    ) -> None:
        if camera.facade is None:
            raise ValueError(f"camera {camera.id} has no facade section")
        self.camera = camera
        self.evidence = evidence
        self.det_params, self.track_params = detector, tracker
        self.cls_params = classifier or ClassifyParams()
        self.geo: FacadeGeometry | None = None
        self.detector: ForegroundDetector | None = None
        self.tracker: Tracker | None = None
        self.near_mask: np.ndarray | None = None
        self.last: Frame | None = None
        self.frame_times: deque[float] = deque(maxlen=100_000)  # seconds, recent frames (eval, bench)
        self._wall_of: dict[int, float] = {}
        # (t, u, v) where reported tracks started and ended
        self._reported: list[tuple[float, float, float, float, float, float]] = []
        self.m = metrics.for_camera(camera.id)

    def _setup(self, frame: Frame) -> None:
        h, w = frame.image.shape[:2]
        assert self.camera.facade is not None
        self.geo = FacadeGeometry(self.camera.facade, (w, h))
        valid: np.ndarray | None = None
        if self.camera.masks:
            valid = np.full((h, w), 255, np.uint8)
            for poly in self.camera.masks:
                pts = np.round(np.asarray(poly, dtype=np.float64)).astype(np.int32)
                cv2.fillPoly(valid, [pts], 0)
            valid = cv2.erode(valid, np.ones((9, 9), np.uint8))
            self.near_mask = cv2.erode(valid, np.ones((31, 31), np.uint8)) == 0
        self.detector = ForegroundDetector((h, w), valid, self.det_params)
        self.tracker = Tracker(self._local, self.track_params)

    def _local(self, u: float, v: float) -> tuple[tuple[float, float], float]:
        assert self.geo is not None
        fps = self.camera.fps
        try:
            du, dv = self.geo.down_pixels_per_metre(u, v)
            scale = self.geo.metres_per_pixel(u, v)
        except (ValueError, ZeroDivisionError, np.linalg.LinAlgError):
            return (0.0, 0.0), 30.0
        g = G / (fps * fps)
        speed = self.track_params.max_speed_mps if self.track_params else 35.0
        return (du * g, dv * g), min(max(speed / fps / max(scale, 1e-4), 4.0), 200.0)

    def process(self, frame: Frame) -> list[Event]:
        start = time.perf_counter()
        image = frame.image
        if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim not in (2, 3):
            self.m.dropped.inc()
            return []
        if self.geo is None or image.shape[:2] != (self.geo.height, self.geo.width):
            if self.geo is not None:  # the camera changed resolution: start over, keep counting
                self.m.restarts.inc()
                self.tracker = None
            self._setup(frame)
        assert self.detector is not None and self.tracker is not None
        gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
        cands = self.detector.process(gray)
        self.m.candidates.inc(len(cands.xy))
        if cands.status == "gated":
            self.m.gated.inc()
        ended = self.tracker.step(frame.index, frame.t, cands.xy, cands.area)
        self._wall_of[frame.index] = frame.wall
        events = self._finish(ended, frame)
        self.last = frame
        if self.evidence is not None:
            self.evidence.feed(frame)
            self.evidence.poll(frame)
        elapsed = time.perf_counter() - start
        self.frame_times.append(elapsed)
        self.m.frame_seconds.observe(elapsed)
        if len(self._wall_of) > 4000:
            for k in sorted(self._wall_of)[:1000]:
                del self._wall_of[k]
        return events

    def close(self) -> list[Event]:
        events: list[Event] = []
        if self.tracker is not None and self.last is not None:
            events = self._finish(self.tracker.flush(), self.last)
        if self.evidence is not None:
            self.evidence.close()
        return events

    def _finish(self, ended: list[Track], frame: Frame) -> list[Event]:
        assert self.geo is not None
        events = []
        for tr in ended:
            self.m.tracks.inc()
            decision = classify(tr, self.geo, self.near_mask, self.cls_params)
            if decision is None or self._continues_reported(tr):
                continue
            self._reported.append((tr.t[0], tr.u[0], tr.v[0], tr.t[-1], tr.u[-1], tr.v[-1]))
            events.append(self._event(tr, decision, frame))
        return events

    def _continues_reported(self, tr: Track) -> bool:
        """Already reported: the second half of a broken track (behind a balcony), or a twin track
        of the same object (a bag seen as two blobs)."""
        self._reported = [r for r in self._reported if tr.t[0] - r[3] < 10.0]
        for t0, u0, v0, t_end, u_end, v_end in self._reported:
            gap = tr.t[0] - t_end
            if -0.5 <= gap <= 2.0 and abs(tr.u[0] - u_end) < 60 and -20 < tr.v[0] - v_end < 250:
                return True
            if abs(tr.t[0] - t0) <= 1.0 and abs(tr.u[0] - u0) < 60 and abs(tr.v[0] - v0) < 60:
                return True
        return False

    def _event(self, tr: Track, d: Decision, frame: Frame) -> Event:
        assert self.geo is not None
        d_est, d_max = (
            (RELEASE_D_EST_M, RELEASE_D_MAX_M) if d.release_seen else (UNSEEN_D_EST_M, UNSEEN_D_MAX_M)
        )
        floor, floor_range, z_est = self.geo.release_floor(d.x_release, d.z_release, d.sigma_z, d_est, d_max)
        x_est, _ = self.geo.unproject(d.x_release, d.z_release, d_est)
        column = self.geo.window_column(x_est)
        trajectory = [
            [round(t, 3), round(u, 1), round(v, 1)] for t, u, v in zip(tr.t, tr.u, tr.v, strict=True)
        ]
        ev = new_event(
            "falling_object",
            self.camera.id,
            {},
            Priority.CRITICAL if d.severity == "alarm" else Priority.NORMAL,
        )
        clip = snapshot = None
        if self.evidence is not None:
            name = f"{self.camera.id}_{ev['id']}"
            wall_first = self._wall_of.get(tr.frames[0], frame.wall - (frame.t - tr.t[0]))
            wall_last = self._wall_of.get(tr.frames[-1], frame.wall - (frame.t - tr.t[-1]))
            wall_release = wall_first - (tr.t[0] - d.t_release)
            clip = self.evidence.request_clip(
                name,
                d.t_release - PRE_ROLL_S,
                tr.t[-1] + POST_ROLL_S,
                wall_release - PRE_ROLL_S,
                wall_last + POST_ROLL_S,
            )
            snapshot = self.evidence.snapshot(name, frame.image, tr)
        ev["data"] = {
            "floor": int(floor),
            "floor_range": [int(floor_range[0]), int(floor_range[1])],
            "window_column": column,
            "t_release": round(d.t_release, 3),
            "t_alarm": round(frame.t, 3),
            "confidence": round(d.confidence, 3),
            "severity": d.severity,
            "clip": clip,
            "snapshot": snapshot,
            "trajectory": trajectory,
            "release_m": {"x": round(x_est, 2), "z": round(z_est, 2)},
            "accel_mps2": None if d.accel is None else round(d.accel, 2),
            "drop_m": round(d.drop_m, 2),
            "fit_rms_m": round(d.rms_m, 3),
            "lead_s": round(d.lead_s, 3),
            "release_seen": d.release_seen,
        }
        (self.m.alarms if d.severity == "alarm" else self.m.suspected).inc()
        return ev
