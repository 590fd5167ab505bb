"""Self-healing video sources: rtsp:// (TCP/UDP), HTTP MJPEG and files, decoded by OpenCV's FFmpeg.

A `VideoSource` runs its own reader thread: open (with timeout) → read (with a read timeout
that doubles as the stall watchdog) → on failure count the reason, back off exponentially
and reopen. Files can loop and be paced to real time. Frames are handed to `on_frame` in the
reader thread; the consumer keeps only the newest (see CameraPipeline).

Why OpenCV's FFmpeg and not an ffmpeg subprocess: per-frame presentation timestamps come for
free, FFmpeg's interrupt callback gives open/read timeouts, the camera worker is already its
own process (crash isolation), and no raw frames are copied through a pipe. See docs/cameras.md.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import structlog

from edged.config.camera import DecodeConfig
from edged.pipelines import camera_metrics as m

OnFrame = Callable[[np.ndarray, float, float, int], None]  # image, t (stream), wall, index
Wants = Callable[[float], bool]  # stream t -> does anyone need this frame's pixels?
_OPEN_LOCK = threading.Lock()  # OPENCV_FFMPEG_CAPTURE_OPTIONS is process-global


def is_stream(url: str) -> bool:
    return "://" in url and not url.startswith("file://")


def _capture_options(url: str, cfg: DecodeConfig) -> str:
    opts: list[str] = []
    if url.startswith(("rtsp://", "rtsps://")):
        opts.append(f"rtsp_transport;{cfg.transport}")
        opts.append(f"stimeout;{int(cfg.stall_timeout_s * 1e6)}")
    return "|".join(opts)


class VideoSource:
    def __init__(
        self,
        camera: str,
        url: str,
        cfg: DecodeConfig,
        fps: float,
        on_frame: OnFrame,
        on_state: Callable[[str, str], None] | None = None,
        wants: Wants | None = None,
    ) -> None:
        self.camera = camera
        self.url = url[7:] if url.startswith("file://") else url
        self.cfg = cfg
        self.fps = fps
        self.on_frame = on_frame
        self.on_state = on_state or (lambda state, reason: None)
        self.wants = wants
        self.log = structlog.get_logger("edged.camera.source").bind(camera=camera)
        self.stream = is_stream(self.url)
        self.finished = threading.Event()  # a non-looping file reached its end
        self.connected = False
        self.frames = 0
        self.native_width: int | None = None
        self.last_frame_wall = 0.0
        self.reconnects: dict[str, int] = {}
        self.wall_clock = self.url.startswith(("http://", "https://"))  # MJPEG: no timestamps
        self._last_t = 0.0  # stream clock of the last frame, kept across reconnects
        self._last_mono = 0.0
        self._consumer_failed = False
        self._busy_since = 0.0  # monotonic start of the current blocking call, 0 when idle
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"source-{camera}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def stuck_for(self) -> float:
        """How long the reader has been inside one open/read call (0 when not blocked)."""
        since = self._busy_since
        return time.monotonic() - since if since else 0.0

    # -- reader thread ---------------------------------------------------------------------

    def _open(self) -> cv2.VideoCapture | None:
        params = [
            cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, int(self.cfg.open_timeout_s * 1000),
            cv2.CAP_PROP_READ_TIMEOUT_MSEC, int(self.cfg.stall_timeout_s * 1000),
        ]  # fmt: skip
        if self.cfg.hw_accel == "any":
            params += [cv2.CAP_PROP_HW_ACCELERATION, cv2.VIDEO_ACCELERATION_ANY]
        if not self.stream and not Path(self.url).is_file():
            return None
        with _OPEN_LOCK:
            os.environ["OPENCV_FFMPEG_CAPTURE_OPTIONS"] = _capture_options(self.url, self.cfg)
            cap = cv2.VideoCapture(self.url, cv2.CAP_FFMPEG, params)
        if not cap.isOpened():
            cap.release()
            return None
        return cap

    def _count(self, reason: str) -> None:
        self.reconnects[reason] = self.reconnects.get(reason, 0) + 1
        m.RECONNECTS.labels(camera=self.camera, reason=reason).inc()
        self.log.warning("source reconnect", reason=reason, url=_redact(self.url), total=self.frames)

    def _set_connected(self, up: bool, reason: str = "") -> None:
        if up != self.connected:
            self.connected = up
            m.CONNECTED.labels(camera=self.camera).set(1 if up else 0)
            self.on_state("connected" if up else "disconnected", reason)

    def _run(self) -> None:
        backoff = self.cfg.backoff_min_s
        t_offset = 0.0  # added to file timestamps so a looping file's clock keeps rising
        while not self._stop.is_set():
            self._busy_since = time.monotonic()
            cap = self._open()
            self._busy_since = 0.0
            if cap is None:
                self._set_connected(False, "open_failed")
                self._count("open_failed")
                self._stop.wait(backoff)
                backoff = min(backoff * 2, self.cfg.backoff_max_s)
                continue
            reason, last_t, got = self._read_loop(cap, t_offset)
            cap.release()
            if got:
                backoff = self.cfg.backoff_min_s
            if reason == "stopped":
                break
            if reason == "eof" and not self.stream:
                if self.cfg.loop and got:
                    t_offset = last_t + 1.0 / self.fps
                    continue
                self._set_connected(False, "eof")
                self.finished.set()
                self.log.info("file ended", frames=self.frames)
                return
            self._set_connected(False, reason)
            self._count(reason)
            self._stop.wait(backoff)
            backoff = min(backoff * 2, self.cfg.backoff_max_s)
        self._set_connected(False, "stopped")

    def _read_loop(self, cap: cv2.VideoCapture, t_offset: float) -> tuple[str, float, bool]:
        got = False
        last_t = t_offset
        conn_mono = 0.0
        t_first: float | None = None
        wall_first = 0.0
        bad = 0
        last_ok = time.monotonic()
        while not self._stop.is_set():
            self._busy_since = time.monotonic()
            ok = cap.grab()  # decodes; the BGR conversion (retrieve) only for wanted frames
            self._busy_since = 0.0
            now = time.monotonic()
            if ok and not got:
                conn_mono = now
            if self.wall_clock:
                pos = now - conn_mono
            else:
                pos = cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0 if ok else 0.0
            t = t_offset + pos if pos > 0 or not got else last_t + 1.0 / self.fps
            if ok and self.frames and t <= self._last_t:
                # the clock went back (a reconnect restarts it, or the camera reset its clock):
                # re-base so time keeps rising for the tracker, schedules and loitering
                step = 1.0 / self.fps if got else max(1.0 / self.fps, now - self._last_mono)
                t_offset += self._last_t + step - t
                t = self._last_t + step
            image: np.ndarray | None = None
            wanted = ok and (self.wants is None or not got or self.wants(t))
            if wanted:
                ok, image = cap.retrieve()
            if not ok or (wanted and image is None):
                if not self.stream and got:
                    return "eof", last_t, got
                if now - last_ok >= self.cfg.stall_timeout_s * 0.9:
                    return "stall", last_t, got
                bad += 1
                m.BAD_INPUT.labels(camera=self.camera, reason="read_failed").inc()
                if bad >= 5 or not got:  # a dead connection fails every read at once
                    return "stream_ended", last_t, got
                continue
            bad = 0
            last_ok = now
            if self.cfg.realtime and not self.stream:
                if t_first is None:
                    t_first, wall_first = t, time.monotonic()
                delay = wall_first + (t - t_first) - time.monotonic()
                if delay > 0 and self._stop.wait(delay):
                    return "stopped", last_t, got
            got = True
            last_t = self._last_t = t
            self._last_mono = now
            self.frames += 1
            self.last_frame_wall = time.time()
            self._set_connected(True)
            m.FRAMES_DECODED.labels(camera=self.camera).inc()
            if image is None:
                continue
            self.native_width = image.shape[1]
            if self.cfg.width and image.shape[1] != self.cfg.width:
                h = round(image.shape[0] * self.cfg.width / image.shape[1] / 2) * 2
                image = cv2.resize(image, (self.cfg.width, h), interpolation=cv2.INTER_AREA)
            try:
                self.on_frame(image, t, self.last_frame_wall, self.frames - 1)
            except Exception as exc:  # the consumer's bug must not end the reader thread
                m.BAD_INPUT.labels(camera=self.camera, reason="consumer_error").inc()
                if not self._consumer_failed:
                    self._consumer_failed = True
                    self.log.exception("frame consumer failed (logged once)", error=str(exc))
        return "stopped", last_t, got


def _redact(url: str) -> str:
    """rtsp://user:pass@host → rtsp://***@host for logs."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url
