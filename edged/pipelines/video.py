"""One camera's video pipeline: source → ring → motion gate → detector → tracker → analytics.

Threads: the source's reader thread decodes and hands frames to `offer` (newest wins; a due
frame overwritten before the loop took it is counted as skipped/behind). The loop (`step`)
runs per-frame analytics (falling objects), gates detection by motion, keeps ≤ credits
requests in flight, and turns detector results into tracks, alarms, snapshots and telemetry.
Nothing here blocks on another camera: each camera is its own process.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import structlog

from edged.config.camera import CameraConfig
from edged.detection.types import Detection
from edged.events import Event, new_event
from edged.pipelines import camera_metrics as m
from edged.pipelines.analytics import Alarm, SecurityAnalytics
from edged.pipelines.detect_link import DetectLink, FrameRef, MotionBlobs
from edged.pipelines.frame import Frame, VideoAnalytic, VideoFile
from edged.pipelines.geometry import Box, Polygon, anchor_point, scale_points, union_box
from edged.pipelines.motion import MotionDetector
from edged.pipelines.ring import FrameRing
from edged.pipelines.snapshots import SnapshotStore
from edged.pipelines.tracker import Tracker
from edged.pipelines.wakeup import Wakeup

ROI_PAD_PX = 24
FULL_FRAME_ABOVE = 0.6  # a motion region covering more than this fraction: send the whole frame
PUBLISH_EVERY_S = 0.5


@dataclass
class _Offered:
    image: np.ndarray
    t: float
    wall: float
    index: int
    slot: int
    seq: int
    detect_due: bool


@dataclass
class PipelineStats:
    decoded: int = 0
    sent: int = 0  # frames sent for detection
    analysed: int = 0  # detector results turned into tracks (edged_camera_frames_processed_total)
    skipped: dict[str, int] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)


class CameraPipeline:
    def __init__(
        self,
        cam: CameraConfig,
        ring: FrameRing | None,
        link: DetectLink | None,
        emit: Callable[[Event], None],
        publish: Callable[[str, Any], None] = lambda topic, body: None,
        snapshots: SnapshotStore | None = None,
        frame_analytics: list[VideoAnalytic] | None = None,
        timezone: str = "UTC",
        native_width: int | None = None,
        keep_events: bool = False,
        ring_factory: Callable[[tuple[int, int, int]], FrameRing] | None = None,
    ) -> None:
        self.cam = cam
        self.ring = ring
        self.ring_factory = ring_factory
        self.link = link
        self.emit_fn = emit
        self.publish = publish
        self.snapshots = snapshots
        self.frame_analytics = frame_analytics or []
        self.tz = ZoneInfo(timezone)
        self.native_width = native_width
        self.keep_events = keep_events
        self.log = structlog.get_logger("edged.camera").bind(camera=cam.id)
        self.stats = PipelineStats()
        det = cam.detection
        self.period = 1.0 / det.fps
        self.tracker = Tracker(det.min_score, det.threshold, det.history, cam.tracking.match_iou,
                               cam.tracking.max_age_s)  # fmt: skip
        self.gate = cam.motion.enabled and not isinstance(link, MotionBlobs)
        self.analytics: SecurityAnalytics | None = None
        self.motion: MotionDetector | None = None
        self.masks: list[Polygon] = []
        self.scale = 1.0
        self._lock = threading.Lock()
        self._wakeup = Wakeup()
        self._wakeup.watch(link.waitable() if link is not None else None)
        self._offered: _Offered | None = None
        self._next_due = -1e18
        self._pending: dict[int, FrameRef] = {}
        self._deferred: tuple[FrameRef, list[Box]] | None = None  # due, waiting for a credit
        self._last_full_t = -1e18
        self._last_track_t = -1e18
        self._last_publish = 0.0
        self._last_frame_wall = 0.0
        self._m_skipped = {r: m.FRAMES_SKIPPED.labels(camera=cam.id, reason=r)
                           for r in ("behind", "no_credit", "no_motion", "stale")}  # fmt: skip
        self._m_processed = m.FRAMES_PROCESSED.labels(camera=cam.id)

    # -- source thread -------------------------------------------------------------------

    def wants(self, t: float) -> bool:
        """Whether the frame at stream time `t` will be used (the source skips converting the rest)."""
        return bool(self.frame_analytics) or (self.link is not None and t >= self._next_due)

    def offer(self, image: np.ndarray, t: float, wall: float, index: int) -> None:
        """Called by the reader thread for every decoded frame."""
        self.stats.decoded += 1
        self._last_frame_wall = wall
        detect_due = self.link is not None and t >= self._next_due
        if detect_due:
            # keep the rate; after a gap, restart the schedule from now
            self._next_due = max(self._next_due + self.period, t + self.period * 0.5)
        if not detect_due and not self.frame_analytics:
            return
        slot = seq = 0
        if detect_due and self.ring_factory is not None:
            shape = (image.shape[0], image.shape[1], 3)
            if self.ring is None or self.ring.shape != shape:
                if self.ring is not None:
                    self.ring.close()
                self.ring = self.ring_factory(shape)  # first frame, or the camera changed resolution
        if detect_due and self.ring is not None:
            try:
                slot, seq = self.ring.write(image, t, wall)
            except ValueError:
                m.BAD_INPUT.labels(camera=self.cam.id, reason="frame_too_large").inc()
                return
        with self._lock:
            old = self._offered
            if old is not None and old.detect_due and not detect_due:
                # the loop has not taken the due frame yet: keep it; this frame is lost only
                # to per-frame analytics
                if self.frame_analytics:
                    self._skip("behind")
                return
            if old is not None and (old.detect_due or self.frame_analytics):
                self._skip("behind")  # a frame that was wanted is replaced before the loop took it
            self._offered = _Offered(image, t, wall, index, slot, seq, detect_due)
        self._wakeup.poke()

    # -- loop ----------------------------------------------------------------------------

    def _skip(self, reason: str) -> None:
        self.stats.skipped[reason] = self.stats.skipped.get(reason, 0) + 1
        self._m_skipped[reason].inc()

    def _setup(self, image: np.ndarray) -> None:
        w = image.shape[1]
        self.scale = w / self.native_width if self.native_width else 1.0
        masks = [scale_points(p, self.scale) for p in self.cam.masks]
        self.masks = [Polygon(p) for p in masks]
        self.motion = MotionDetector(self.cam.motion.width, self.cam.motion.threshold,
                                     self.cam.motion.min_area, masks=masks)  # fmt: skip
        self.analytics = SecurityAnalytics(
            self.cam.zones, self.cam.lines, self.scale, self.cam.tracking.anchor
        )

    def _take(self) -> _Offered | None:
        with self._lock:
            offered, self._offered = self._offered, None
        return offered

    def step(self, timeout_s: float = 0.05) -> None:
        """Handle the offered frame and any detector replies; wait up to `timeout_s` for either."""
        offered = self._take()
        if offered is None and timeout_s > 0:
            self._wakeup.wait(timeout_s)
            offered = self._take()
        if self.link is not None:  # replies first: they return the credits a due frame needs
            for res in self.link.poll(0.0):
                self._result(res.seq, res.detections, res.reason)
        if offered is not None:
            self._frame(offered)
        self._send_deferred()
        m.QUEUE_DEPTH.labels(camera=self.cam.id).set(
            (self.link.in_flight if self.link else 0)
            + (self._offered is not None)
            + (self._deferred is not None)
        )
        if self._last_frame_wall:
            m.LAST_FRAME_AGE.labels(camera=self.cam.id).set(max(0.0, time.time() - self._last_frame_wall))

    def _frame(self, f: _Offered) -> None:
        if self.motion is None:
            self._setup(f.image)
        if self.frame_analytics:
            if self.link is None:
                self._m_processed.inc()
            frame = Frame(f.image, f.index, f.t, f.wall)
            for analytic in self.frame_analytics:
                try:
                    self._emit_all(analytic.process(frame), f.wall)
                except Exception as exc:  # one analytic's bug must not stop the camera
                    m.BAD_INPUT.labels(camera=self.cam.id, reason=f"{analytic.name}_error").inc()
                    self.log.exception("analytic failed", analytic=analytic.name, error=str(exc))
        if not f.detect_due or self.link is None:
            return
        rois = self._regions(f)
        if rois is None:
            self._skip("no_motion")
            self.tracker.hold(f.t)
            return
        ref = FrameRef(f.slot, f.seq, f.t, f.wall, f.image)
        if not self.link.has_credit:
            # both requests still out: hold this frame until a reply returns a credit (sent if
            # still within one detection period, else skipped); a newer due frame replaces it
            if self._deferred is not None:
                self._skip("no_credit")
            self._deferred = (ref, rois)
            return
        self._send(ref, rois)

    def _send(self, ref: FrameRef, rois: list[Box]) -> None:
        assert self.link is not None
        if not self.link.submit(ref, rois or None):
            self._skip("no_credit")
            return
        if not rois:
            self._last_full_t = ref.t
        self._pending[ref.seq] = ref
        self.stats.sent += 1

    def _send_deferred(self) -> None:
        if self._deferred is None or self.link is None:
            return
        ref, rois = self._deferred
        if time.time() - ref.wall > self.period:
            self._deferred = None
            self._skip("no_credit")
        elif self.link.has_credit:
            self._deferred = None
            self._send(ref, rois)

    def _regions(self, f: _Offered) -> list[Box] | None:
        """Regions for the detector: [] = whole frame, None = nothing to look at now."""
        if not self.gate:
            return []
        assert self.motion is not None
        moving = self.motion.update(f.image)
        if not moving:
            return [] if f.t - self._last_full_t >= self.cam.motion.recheck_s else None
        h, w = f.image.shape[:2]
        box = union_box(moving + self.tracker.predicted_boxes(), ROI_PAD_PX, w, h)
        if box is None or (box[2] - box[0]) * (box[3] - box[1]) > FULL_FRAME_ABOVE * w * h:
            return []
        return [box]

    def _result(self, seq: int, detections: list[Detection] | None, reason: str) -> None:
        ref = self._pending.pop(seq, None)
        if ref is None:
            return
        if detections is None:
            self._skip("stale" if reason != "no_credit" else "no_credit")
            return
        if ref.t <= self._last_track_t:
            self._skip("stale")  # an older frame answered after a newer one
            return
        self._last_track_t = ref.t
        self.stats.analysed += 1
        self._m_processed.inc()
        wanted = set(self.cam.detection.classes)
        dets = [d for d in detections if d.label in wanted and not self._masked(d.box)]
        tracks = self.tracker.update(dets, ref.t)
        assert self.analytics is not None
        now = dt.datetime.fromtimestamp(ref.wall, self.tz)
        for alarm in self.analytics.update(tracks, ref.t, now):
            self._alarm(alarm, ref)
        confirmed = [tr for tr in tracks if tr.confirmed]
        m.TRACKED.labels(camera=self.cam.id).set(len(confirmed))
        if time.monotonic() - self._last_publish >= PUBLISH_EVERY_S:
            self._last_publish = time.monotonic()
            inv = 1.0 / self.scale
            self.publish(
                "camera.tracks",
                {
                    "camera": self.cam.id,
                    "t": ref.t,
                    "tracks": [
                        {
                            "id": tr.id,
                            "class": tr.cls,
                            "score": round(tr.score, 3),
                            "box": [round(v * inv, 1) for v in tr.kf.box],
                        }
                        for tr in confirmed
                    ],
                    "counts": self.analytics.counts(),
                    "occupancy": self.analytics.occupancy(tracks),
                },
            )

    def _masked(self, box: Box) -> bool:
        p = anchor_point(box, self.cam.tracking.anchor)
        return any(mask.contains(p) for mask in self.masks)

    def _alarm(self, alarm: Alarm, ref: FrameRef) -> None:
        inv = 1.0 / self.scale
        data = dict(alarm.data)
        data["t"] = round(alarm.t, 3)
        data["box"] = [round(v * inv, 1) for v in alarm.box]
        if alarm.type == "line_crossing":
            m.LINE_CROSSINGS.labels(camera=self.cam.id, line=alarm.rule, direction=data["direction"]).inc()
        event = new_event(alarm.type, self.cam.id, data, alarm.priority, ts=ref.wall)
        snapshot = None
        if self.snapshots is not None:
            label = f"{alarm.type} {alarm.rule} #{alarm.track} {alarm.cls}"
            closed = alarm.type != "line_crossing"
            snapshot = self.snapshots.save(event["id"], ref.image, alarm.box, label, alarm.polygon, closed)
        data["snapshot"] = str(snapshot) if snapshot else None
        event["data"] = data
        self._emit_all([event], ref.wall)

    def _emit_all(self, events: list[Event], wall: float) -> None:
        for event in events:
            self.emit_fn(event)
            m.EVENT_LATENCY.labels(camera=self.cam.id, type=event["type"]).observe(
                max(0.0, time.time() - wall)
            )
            if self.keep_events:
                self.stats.events.append(event)

    def drain(self, timeout_s: float = 2.0) -> None:
        """Wait for requests still in flight (end of a file, or stop)."""
        deadline = time.monotonic() + timeout_s
        while self.link is not None and self.link.in_flight and time.monotonic() < deadline:
            self.step(0.05)

    def close(self) -> None:
        self._wakeup.close()
        for analytic in self.frame_analytics:
            try:
                self._emit_all(analytic.close(), time.time())
            except Exception as exc:
                self.log.exception("analytic close failed", analytic=analytic.name, error=str(exc))


def run_file(
    pipeline: CameraPipeline, path: str, width: int | None = None, limit_s: float | None = None
) -> None:
    """Offline / test driver: every frame of a file, each detection awaited (no drops)."""
    import cv2

    for frame in VideoFile(path, pipeline.cam.fps):
        if limit_s is not None and frame.t > limit_s:
            break
        image = frame.image
        if width and image.shape[1] != width:
            image = cv2.resize(image, (width, round(image.shape[0] * width / image.shape[1] / 2) * 2))
        pipeline.offer(image, frame.t, frame.wall, frame.index)
        pipeline.step(0.0)
        pipeline.drain(10.0)
    pipeline.close()
