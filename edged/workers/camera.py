"""The camera worker: one process per camera (`camera:<id>`).

Video cameras: source → shared-memory ring → motion gate → detector (credits) → tracker →
zones/lines/loitering, plus the falling-object analytic on every frame for cameras with a
`facade` section. Thermal cameras hand the whole process to the thermal pipeline. Alarms go
to `ctx.emit`, live tracks and counts to `ctx.publish`, progress to `ctx.beat`.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from edged.config.camera import CameraConfig
from edged.events import Priority, new_event
from edged.pipelines.detect_link import DetectLink, MotionBlobs, RemoteDetector
from edged.pipelines.frame import VideoAnalytic
from edged.pipelines.ring import FrameRing, ring_name, ring_namespace
from edged.pipelines.snapshots import SnapshotStore
from edged.pipelines.sources import VideoSource, is_stream
from edged.pipelines.video import CameraPipeline
from edged.workers.runtime import WorkerContext

OFFLINE_AFTER_S = 10.0  # disconnected this long: one camera_offline event per outage
STATE_EVERY_S = 2.0
STUCK_SLACK_S = 15.0


def camera_config(ctx: WorkerContext) -> CameraConfig:
    for cam in ctx.config.cameras:
        if cam.id == ctx.instance:
            return cam
    raise LookupError(f"no camera {ctx.instance!r} in the config")


def _detect_link(ctx: WorkerContext, cam: CameraConfig, ring: str) -> DetectLink | None:
    if not (cam.analytics_enabled or cam.detection.detector):
        return None
    if cam.detection.detector == "motion":
        return MotionBlobs(cam.masks)
    names = [d.name for d in ctx.config.detectors]
    name = cam.detection.detector or (names[0] if names else None)
    if name is None or name not in names:
        ctx.log.warning("camera has zones/lines but no detector configured", detector=name)
        return None
    from edged.detection.client import DetectorClient

    client = DetectorClient(ctx.zmq, ctx.endpoints.detector(name), cam.id, credits=2, timeout_s=2.0)
    return RemoteDetector(client, ring)


def _falling(ctx: WorkerContext, cam: CameraConfig) -> list[VideoAnalytic]:
    """The issue-4 analytic, imported lazily; a missing or broken one never stops the camera."""
    if cam.facade is None:
        return []
    try:
        from edged.pipelines.falling.analytic import FallingAnalytic
        from edged.pipelines.falling.evidence import EvidenceRecorder

        out = Path(ctx.config.runtime.state_dir) / "evidence" / cam.id
        rtsp = cam.source if cam.source.startswith("rtsp") else None
        evidence = EvidenceRecorder(cam.id, out, cam.fps, rtsp_source=rtsp)
        return [FallingAnalytic(cam, evidence)]
    except Exception as exc:
        ctx.log.error("falling-object analytic unavailable", error=str(exc))
        return []


def _idle(ctx: WorkerContext, why: str) -> None:
    """Nothing to run (a part is missing): stay up and beating so the state is visible."""
    ctx.log.error("camera idle", reason=why)
    while not ctx.stopping.is_set():
        ctx.beat(state="idle", reason=why)
        ctx.stopping.wait(0.5)


def run(ctx: WorkerContext) -> None:
    cam = camera_config(ctx)
    if cam.thermal is not None:
        try:
            from edged.pipelines.thermal.worker import run_thermal_camera
        except ImportError as exc:
            _idle(ctx, f"thermal pipeline unavailable: {exc}")
            return
        run_thermal_camera(ctx, cam)
        return
    VideoCameraWorker(ctx, cam).run()


class VideoCameraWorker:
    def __init__(self, ctx: WorkerContext, cam: CameraConfig) -> None:
        self.ctx = ctx
        self.cam = cam
        self.ring_name = ring_name(cam.id, ring_namespace(ctx.config.runtime.run_dir))
        self.link = _detect_link(ctx, cam, self.ring_name)
        snap_dir = cam.snapshots.dir or Path(ctx.config.runtime.state_dir) / "snapshots" / cam.id
        snapshots = SnapshotStore(snap_dir, cam.snapshots.max_files, cam.snapshots.max_bytes,
                                  cam.snapshots.jpeg_quality)  # fmt: skip
        falling = _falling(ctx, cam)
        self.pipeline = CameraPipeline(
            cam,
            None,
            self.link,
            ctx.emit,
            ctx.publish,
            snapshots,
            falling,
            ctx.config.site.timezone,
            ring_factory=self._make_ring,
        )
        if falling and cam.decode.width:
            ctx.log.warning("facade cameras analyse native frames; decode.width applies to detection only")
        self.source = VideoSource(
            cam.id, cam.source, cam.decode, cam.fps, self._on_frame, self._on_state, self.pipeline.wants
        )
        self._down_since: float | None = time.monotonic()
        self._offline_sent = False
        self._last_state = 0.0

    def _make_ring(self, shape: tuple[int, int, int]) -> FrameRing:
        runtime = self.ctx.config.runtime
        ring = FrameRing.create(self.ring_name, self.cam.decode.ring_slots, shape,
                                min_free_bytes=runtime.shm_min_free_bytes)  # fmt: skip
        self.ctx.log.info("frame ring created", ring=self.ring_name, shape=list(shape), slots=ring.slots)
        return ring

    def _on_frame(self, image: Any, t: float, wall: float, index: int) -> None:
        if self.pipeline.native_width is None and self.cam.decode.width:
            self.pipeline.native_width = self.source.native_width
        self.pipeline.offer(image, t, wall, index)

    def _on_state(self, state: str, reason: str) -> None:
        self.ctx.log.info("source " + state, reason=reason or None)
        if state == "connected":
            self._down_since, self._offline_sent = None, False
        elif self._down_since is None:
            self._down_since = time.monotonic()
        self.ctx.publish("camera.state", {"camera": self.cam.id, "state": state, "reason": reason})

    def _watch(self) -> None:
        now = time.monotonic()
        down = self._down_since
        due = down is not None and not self._offline_sent and now - down >= OFFLINE_AFTER_S
        if due and down is not None and not self.source.finished.is_set():
            self._offline_sent = True
            data = {"reasons": dict(self.source.reconnects), "down_s": round(now - down, 1)}
            self.ctx.emit(new_event("camera_offline", self.cam.id, data, Priority.NORMAL))
        stuck = self.source.stuck_for()
        if stuck > self.cam.decode.open_timeout_s + self.cam.decode.stall_timeout_s + STUCK_SLACK_S:
            # a decoder call that ignores its timeouts: only a fresh process gets the camera back
            raise RuntimeError(f"source blocked for {stuck:.0f} s; restarting the camera worker")
        if now - self._last_state >= STATE_EVERY_S:
            self._last_state = now
            st = self.pipeline.stats
            self.ctx.publish(
                "camera.stats",
                {
                    "camera": self.cam.id,
                    "connected": self.source.connected,
                    "decoded": self.source.frames,
                    "sent": st.sent,
                    "processed": st.analysed,
                    "skipped": st.skipped,
                    "reconnects": self.source.reconnects,
                },
            )

    def _progress(self) -> dict[str, Any]:
        """Heartbeat progress: the last decoded frame, and how long the detector keeps us waiting."""
        link = self.link
        return {
            "last_frame_ts": round(self.source.last_frame_wall, 3),
            "frames": self.source.frames,
            "analysed": self.pipeline.stats.analysed,
            "detect_in_flight": link.in_flight if link is not None else 0,
            "detect_wait_s": round(link.oldest_age(), 3) if link is not None else 0.0,
        }

    def run(self) -> None:
        ctx = self.ctx
        ctx.log.info("camera starting", source=_safe_source(self.cam.source), detector=bool(self.link))
        self.source.start()
        try:
            while not ctx.stopping.is_set():
                self.pipeline.step(0.1)
                self._watch()
                ctx.beat(**self._progress())
        finally:
            self.source.stop()
            self.pipeline.drain(1.0)
            self.pipeline.close()
            if self.link is not None:
                self.link.close()
            if self.pipeline.ring is not None:
                self.pipeline.ring.close()
                self.pipeline.ring.unlink()


def _safe_source(src: str) -> str:
    if is_stream(src) and "@" in src:
        scheme, rest = src.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return src
