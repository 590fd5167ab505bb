"""Live entry point: the camera worker hands cameras with a `thermal` section to
`run_thermal_camera(ctx, camera_cfg)`, which runs until `ctx.stopping`.

A reader thread owns the source (reads can block: a UVC device, an ISAPI request), so the main
loop keeps beating every 0.25 s whatever the camera does. A failed source is reopened with
backoff; after `OFFLINE_AFTER_S` without frames one `camera_offline` event marks the outage.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from pathlib import Path
from typing import Any

from edged.config.camera import CameraConfig
from edged.events import Priority, new_event
from edged.pipelines.thermal import metrics as m
from edged.pipelines.thermal.frame import ThermalFrame
from edged.pipelines.thermal.screening import ThermalScreening
from edged.pipelines.thermal.sources import SourceError, ThermalSource, open_source

OFFLINE_AFTER_S = 10.0
BEAT_S = 0.25


class SourceReader(threading.Thread):
    """Reads frames into a 2-deep queue (the oldest is dropped: late frames are useless)."""

    def __init__(self, cam: CameraConfig, stopping: threading.Event, log: Any) -> None:
        super().__init__(name=f"thermal-source-{cam.id}", daemon=True)
        self.cam = cam
        self.stopping = stopping
        self.log = log
        self.frames: queue.Queue[ThermalFrame] = queue.Queue(maxsize=2)
        self.state = "connecting"
        self.error: str | None = None
        self.dropped = 0

    def run(self) -> None:
        backoff = 0.5
        while not self.stopping.is_set():
            try:
                source: ThermalSource = open_source(self.cam, pace=True, loop=True)
            except SourceError as exc:
                self._failed(exc, backoff)
                backoff = min(backoff * 2, 30.0)
                continue
            backoff = 0.5
            self.state, self.error = "streaming", None
            try:
                while not self.stopping.is_set():
                    frame = source.read()
                    if frame is None:
                        self.state = "ended"
                        return
                    self._put(frame)
            except SourceError as exc:
                self._failed(exc, backoff)
            finally:
                source.close()

    def _put(self, frame: ThermalFrame) -> None:
        try:
            self.frames.put_nowait(frame)
        except queue.Full:
            self.dropped += 1
            with contextlib.suppress(queue.Empty):
                self.frames.get_nowait()
            self.frames.put_nowait(frame)

    def _failed(self, exc: Exception, backoff: float) -> None:
        m.SOURCE_ERRORS.labels(camera=self.cam.id).inc()
        if str(exc) != self.error:
            self.log.warning("thermal source failed", error=str(exc), retry_s=backoff)
        self.state, self.error = "reconnecting", str(exc)
        self.stopping.wait(backoff)


def run_thermal_camera(ctx: Any, cam: CameraConfig) -> None:
    log = ctx.log.bind(camera=cam.id)
    evidence = Path(ctx.config.runtime.state_dir) / "evidence" / "thermal" / cam.id
    screening = ThermalScreening(cam, evidence)
    interval = screening.cfg.summary_interval_s
    reader = SourceReader(cam, ctx.stopping, log)
    reader.start()
    next_summary = time.monotonic() + interval
    last_frame = time.monotonic()
    offline_sent = False
    t = 0.0
    while not ctx.stopping.is_set():
        try:
            frame = reader.frames.get(timeout=BEAT_S)
        except queue.Empty:
            frame = None
        now = time.monotonic()
        if frame is not None:
            last_frame, t = now, frame.t
            if offline_sent:
                offline_sent = False
                log.info("thermal camera back online")
            for event in screening.process(frame):
                ctx.emit(event)
        elif not offline_sent and now - last_frame > OFFLINE_AFTER_S:
            offline_sent = True
            data = {"reason": reader.error or reader.state, "offline_s": round(now - last_frame, 1)}
            ctx.emit(new_event("camera_offline", cam.id, data, Priority.NORMAL))
        ctx.beat(
            state=reader.state,
            frames=screening.frames,
            calibration=screening.calibration,
            last_frame_age_s=round(now - last_frame, 2),
        )
        if now >= next_summary:
            next_summary = now + interval
            _report_window(ctx, cam.id, screening.summary(t))
    for event in screening.close():
        ctx.emit(event)
    _report_window(ctx, cam.id, screening.summary(t))
    reader.join(timeout=5.0)


def _report_window(ctx: Any, camera: str, summary: dict[str, Any]) -> None:
    """Live on the `screening` topic, and durably as a P2 event the uplink counts and sends on."""
    ctx.publish("screening", summary)
    ctx.emit(new_event("screening", camera, summary, Priority.TELEMETRY))
