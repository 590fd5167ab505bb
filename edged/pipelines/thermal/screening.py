"""The thermal screening analytic: one class shared by the live worker and `edged analyze thermal`.

Per frame: shutter gate → blackbody reference (offset, calibration state) → corrected °C →
faces → tracks → per-frame robust canthus/face maximum with quality flags → decisions → events.
It sees only `ThermalFrame`s and returns events; it never touches sockets.
"""

from __future__ import annotations

import math
import time
from collections import Counter as Tally
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import structlog

from edged.config.camera import CameraConfig
from edged.config.thermal import ThermalConfig
from edged.events import Event, Priority, new_event
from edged.pipelines.thermal import metrics as m
from edged.pipelines.thermal.blackbody import ACQUIRING, LOCKED, BlackbodyMonitor
from edged.pipelines.thermal.decisions import Decider, Reading
from edged.pipelines.thermal.evidence import write_crops
from edged.pipelines.thermal.faces import Face, FaceFinder, _iou
from edged.pipelines.thermal.frame import ThermalFrame
from edged.pipelines.thermal.gates import FfcGate, NoiseEstimator, face_flags
from edged.pipelines.thermal.roi import robust_peak
from edged.pipelines.thermal.tracking import FaceTracker, FrameReading, Track

INVALIDATING = {"face_too_small", "too_near", "too_far", "ambiguous", "implausible", "partial", "no_reading"}


class ThermalScreening:
    name = "thermal"

    def __init__(
        self, camera: CameraConfig, evidence_dir: Path | None = None, finder: FaceFinder | None = None
    ) -> None:
        self.camera_id = camera.id
        self.cfg: ThermalConfig = camera.thermal or ThermalConfig()
        self.evidence_dir = evidence_dir
        self.finder = finder or FaceFinder(self.cfg.faces)
        self.gate = FfcGate(self.cfg.ffc_settle_s)
        self.noise = NoiseEstimator()
        self.blackbody = BlackbodyMonitor(self.cfg.blackbody) if self.cfg.blackbody else None
        self.tracker = FaceTracker(self.cfg.track_timeout_s)
        self.decider = Decider(self.cfg)
        self.decider.frame_dt = 1.0 / camera.fps
        self.readings: list[Reading] = []  # every decision, for eval and `--readings`
        self.calibration_log: list[tuple[float, str, str | None]] = []  # (t, state, reason) on change
        self.frame_seconds: list[float] = []
        self.faces_seen = 0
        self.frames = 0
        self.skipped: Tally[str] = Tally()
        self._window: dict[str, Any] = self._new_window(0.0)
        self._state = "no_blackbody" if self.blackbody is None else "acquiring"
        self._offset = 0.0
        self._log = structlog.get_logger("edged.thermal").bind(camera=self.camera_id)
        self._warned: set[str] = set()
        self._last_t: float | None = None
        if self.cfg.faces.detector != "hot_region" and self.finder.centerface is None:
            self._log.warning("centerface model unavailable; hot-region faces only")
        m.CALIBRATED.labels(camera=self.camera_id).set(0 if self.blackbody else 1)

    # ------------------------------------------------------------------ per frame
    def process(self, frame: ThermalFrame) -> list[Event]:
        start = time.perf_counter()
        self.frames += 1
        m.FRAMES.labels(camera=self.camera_id).inc()
        events: list[Event] = []
        try:
            events = self._process(frame)
        except (ValueError, cv2.error, FloatingPointError) as exc:  # bad input never kills the worker
            self._skip("bad_frame")
            if "bad_frame" not in self._warned:
                self._warned.add("bad_frame")
                self._log.warning("bad thermal frame dropped", error=str(exc))
        elapsed = time.perf_counter() - start
        self.frame_seconds.append(elapsed)
        m.FRAME_SECONDS.labels(camera=self.camera_id).observe(elapsed)
        return events

    def _process(self, frame: ThermalFrame) -> list[Event]:
        raw = frame.celsius()
        if raw.ndim != 2 or not np.isfinite(raw).all():
            raise ValueError("thermal frame is not a finite 2-D image")
        events: list[Event] = []
        reason, shutter_ended = self.gate.check(frame, raw)
        if shutter_ended and self.blackbody is not None:
            self.blackbody.shutter()
        if reason is not None:
            self._skip(reason)
            calibrated_now = self._state in (LOCKED, ACQUIRING, "no_blackbody")
            if self.blackbody is not None and (bb_age := self.blackbody.age_check(frame.t)) is not None:
                events += self._calibration(bb_age.state, bb_age.reason, frame)
            for track in self.tracker.tracks:  # never hold a decision over a blind spell
                if not track.decided and (r := self.decider.evaluate(track, frame.t, calibrated_now, True)):
                    events += self._decided(r, track, frame.wall)
            if self._last_t is not None and frame.t > self._last_t:
                self.tracker.pause(frame.t - self._last_t)
                self._frame_interval(frame.t - self._last_t)
            self._last_t = frame.t
            return events
        if self._last_t is not None and frame.t > self._last_t:
            self._frame_interval(frame.t - self._last_t)
        self._last_t = frame.t
        calibrated = True
        if self.blackbody is not None:
            bb = self.blackbody.update(raw, frame.t)
            events += self._calibration(bb.state, bb.reason, frame)
            calibrated = bb.calibrated
            if calibrated:
                self._offset = bb.offset_c
                m.OFFSET.labels(camera=self.camera_id).set(self._offset)
        corrected = raw + np.float32(self._offset)
        smooth = cv2.blur(corrected, (3, 3))
        sigma = self.noise.update(corrected)
        faces = [
            f for f in self.finder.find(smooth, frame.visible, frame.homography) if not self._on_blackbody(f)
        ]
        self.faces_seen += len(faces)
        hot = smooth > self.cfg.faces.skin_max_c
        if hot.any():
            hot = cv2.dilate(hot.astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)
        matches, ended = self.tracker.update(faces, frame.t)
        for track, face, ambiguous in matches:
            if len(track.readings) == 0 and (prev := self.decider.fragment_of(track, frame.t)) is not None:
                track.readings = prev.readings
            reading = self._measure(corrected, smooth, sigma, face, hot, ambiguous, calibrated, frame.t)
            track.readings.append(reading)
            track.evidence = (corrected, frame.visible, frame.homography)
        # Every track seen now (a first decision or a late alarm), and every undecided one: a face
        # missed in this frame (turned away, at the edge) still gets its decision on time, not
        # when its track times out. While the first lock is being acquired, decisions wait for it.
        seen = {id(track) for track, _face, _amb in matches}
        decide_calibrated = calibrated or self._state == ACQUIRING
        for track in self.tracker.tracks:
            if track.readings and (id(track) in seen or not track.decided):
                decision = self.decider.evaluate(track, frame.t, decide_calibrated)
                if decision is not None:
                    events += self._decided(decision, track, frame.wall)
        events += self._end_tracks(ended, frame.t, frame.wall)
        return events

    def _measure(
        self,
        corrected: np.ndarray,
        smooth: np.ndarray,
        sigma: float,
        face: Face,
        hot: np.ndarray,
        ambiguous: bool,
        calibrated: bool,
        t: float,
    ) -> FrameReading:
        flags = list(face.flags) + face_flags(face.box, self.cfg)
        h, w = corrected.shape
        x, y, bw, bh = face.box
        if x <= 0 or y <= 0 or x + bw >= w or y + bh >= h:
            flags.append("partial")
        if ambiguous:
            flags.append("ambiguous")
        peak = None
        if face.canthus is not None:
            peak = robust_peak(corrected, smooth, face.canthus, sigma, exclude=hot)
        if peak is None:
            peak = robust_peak(corrected, smooth, face.box, sigma, mask=face.mask, exclude=hot)
            if face.canthus is not None:
                flags.append("face_max")
        skin = peak.value_c if peak is not None else None
        if skin is None:
            flags.append("no_reading")
        elif not self.cfg.faces.skin_min_c <= skin <= self.cfg.faces.skin_max_c:
            flags.append("implausible")
        if not calibrated:
            flags.append("uncalibrated")
        valid = not INVALIDATING.intersection(flags)
        for f in flags:
            m.FLAGGED.labels(camera=self.camera_id, flag=f).inc()
        return FrameReading(t, skin, face.box[2], valid, flags)

    def _decided(self, r: Reading, track: Track, wall: float) -> list[Event]:
        self.readings.append(r)
        events: list[Event] = []
        if not r.late and "reidentified" not in r.flags:
            m.PEOPLE.labels(camera=self.camera_id).inc()
            self._window["people_screened"] += 1
            self._window["max_body_c"] = max(self._window["max_body_c"] or -math.inf, r.body_c)
        if "reidentified" in r.flags:
            m.DUPLICATES.labels(camera=self.camera_id).inc()
        if self.cfg.emit_readings:
            data = self._data(r, {})
            events.append(new_event("temperature_reading", self.camera_id, data, Priority.TELEMETRY, ts=wall))
        if r.alarm:
            m.ALARMS.labels(camera=self.camera_id, mode=r.mode).inc()
            self._window["alarms"] += 1
            event = new_event("fever", self.camera_id, {}, Priority.CRITICAL, ts=wall)
            crops: dict[str, str | None] = dict.fromkeys(
                ("thermal_crop", "thermal_crop_radiometric", "visible_crop")
            )
            if self.evidence_dir is not None and track.evidence is not None:
                image, visible, hmat = track.evidence
                crops = write_crops(self.evidence_dir, event["id"], image, track.box, visible, hmat)
            event["data"] = self._data(r, crops)
            events.append(event)
        return events

    def _data(self, r: Reading, crops: dict[str, str | None]) -> dict[str, Any]:
        return {
            "temp_c": round(r.body_c, 2),
            "skin_temp_c": round(r.skin_c, 2),
            "track": r.track,
            "t_first": round(r.t_first, 3),
            "t_decision": round(r.t_decision, 3),
            "frames": r.frames,
            "blackbody_offset_c": round(self._offset, 3) if self.blackbody is not None else None,
            "quality": r.flags,
            "threshold_c": round(r.threshold_c, 2),
            "mode": r.mode,
            "calibration": self._state,
            "bbox": [round(v, 1) for v in r.box],
            **crops,
        }

    def _end_tracks(self, ended: list[Track], t: float, wall: float) -> list[Event]:
        events: list[Event] = []
        calibrated = self._state in (LOCKED, "no_blackbody")
        for track in ended:
            if (
                not track.decided
                and (r := self.decider.evaluate(track, t, calibrated, force=True)) is not None
            ):
                events += self._decided(r, track, wall)
            self.decider.track_ended(track)
        return events

    def _on_blackbody(self, face: Face) -> bool:
        if self.cfg.blackbody is None:
            return False
        x, y, w, h = self.cfg.blackbody.roi
        grow = max(4.0, 0.5 * max(w, h))
        zone = (x - grow, y - grow, w + 2 * grow, h + 2 * grow)
        return _iou(face.box, zone) > 0 and _overlap(face.box, zone) > 0.3

    def _calibration(self, state: str, reason: str | None, frame: ThermalFrame) -> list[Event]:
        previous = self._state
        if state == previous:
            return []
        self._state = state
        self.calibration_log.append((frame.t, state, reason))
        m.CALIBRATED.labels(camera=self.camera_id).set(1 if state == LOCKED else 0)
        if state == "lost":
            m.BLACKBODY_LOST.labels(camera=self.camera_id, reason=reason or "unknown").inc()
            self._log.warning("blackbody lost: screening uncalibrated", reason=reason, t=frame.t)
            data = {"reason": reason, "t": round(frame.t, 3), "last_offset_c": round(self._offset, 3)}
            return [new_event("thermal_uncalibrated", self.camera_id, data, Priority.NORMAL, ts=frame.wall)]
        if state == LOCKED and previous == "lost":
            self._log.info("blackbody reference locked again", t=frame.t)
            assert self.blackbody is not None
            data = {"t": round(frame.t, 3), "blackbody_offset_c": round(self.blackbody.offset_c, 3)}
            return [new_event("thermal_calibrated", self.camera_id, data, Priority.NORMAL, ts=frame.wall)]
        return []

    def _frame_interval(self, dt: float) -> None:
        if dt < 2.0:  # not a gap in the stream
            self.decider.frame_dt += 0.1 * (min(dt, 0.5) - self.decider.frame_dt)

    def _skip(self, reason: str) -> None:
        self.skipped[reason] += 1
        self._window["skipped"][reason] = self._window["skipped"].get(reason, 0) + 1
        m.SKIPPED.labels(camera=self.camera_id, reason=reason).inc()

    @property
    def calibration(self) -> str:
        """locked | acquiring | lost | no_blackbody"""
        return self._state

    # ------------------------------------------------------------------ end / telemetry
    def close(self) -> list[Event]:
        """End of stream: decide the people still in view (those with enough frames)."""
        last_t = max((tr.t_last for tr in self.tracker.tracks), default=0.0)
        return self._end_tracks(self.tracker.flush(), last_t, time.time())

    def summary(self, t: float, reset: bool = True) -> dict[str, Any]:
        body = {
            "camera": self.camera_id,
            "t": round(t, 3),
            "window_s": round(t - self._window["t0"], 3),
            "people_screened": self._window["people_screened"],
            "alarms": self._window["alarms"],
            "max_temp_c": None
            if self._window["max_body_c"] is None
            else round(self._window["max_body_c"], 2),
            "calibration": self._state,
            "blackbody_offset_c": round(self._offset, 3) if self.blackbody is not None else None,
            "mode": self.cfg.compensation,
            "frames": self.frames,
            "skipped": dict(self._window["skipped"]),
            "duplicates_suppressed": self.decider.duplicates_suppressed,
        }
        if reset:
            self._window = self._new_window(t)
        return body

    @staticmethod
    def _new_window(t0: float) -> dict[str, Any]:
        return {"t0": t0, "people_screened": 0, "alarms": 0, "max_body_c": None, "skipped": {}}


def _overlap(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    """Fraction of box a inside box b."""
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    return ix * iy / max(a[2] * a[3], 1e-9)
