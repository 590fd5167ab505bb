"""HTTP MJPEG source against a real multipart/x-mixed-replace server on 127.0.0.1."""

from __future__ import annotations

import itertools
import threading
import time

import numpy as np
from cam_mjpeg import MjpegServer, frame_level

from edged.config.camera import DecodeConfig
from edged.pipelines.sources import VideoSource


class Recorder:
    def __init__(self) -> None:
        self.frames: list[tuple[int, float, tuple[int, ...]]] = []  # grey level, t, shape
        self.lock = threading.Lock()

    def __call__(self, image: np.ndarray, t: float, wall: float, index: int) -> None:
        level = int(np.median(image[:60, :60]))  # a corner the moving square never reaches
        with self.lock:
            self.frames.append((level, t, image.shape))

    def count(self) -> int:
        with self.lock:
            return len(self.frames)


def _wait(pred: object, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if pred():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError("timed out")


def test_mjpeg_frames_arrive_in_order_scaled_and_the_source_reconnects() -> None:
    cfg = DecodeConfig(width=160, open_timeout_s=3, stall_timeout_s=2, backoff_min_s=0.2, backoff_max_s=1)
    rec = Recorder()
    with MjpegServer(fps=20) as server:
        src = VideoSource("mjpeg", server.url, cfg, 20.0, rec)
        src.start()
        try:
            _wait(lambda: rec.count() >= 25, 20)
            with rec.lock:
                first = list(rec.frames[:25])
            assert src.native_width == 320
            assert all(shape == (120, 160, 3) for _, _, shape in first)  # decode.width scales
            # every frame of the first connection, in order, undamaged (JPEG noise only)
            levels = [lvl for lvl, _, _ in first]
            assert all(abs(lvl - frame_level(i)) <= 4 for i, lvl in enumerate(levels)), levels
            times = [t for _, t, _ in first]
            assert all(b > a for a, b in itertools.pairwise(times))

            server.drop_clients()  # the camera reboots: the stream ends mid-way
            before = rec.count()
            _wait(lambda: server.connections >= 2 and rec.count() >= before + 20, 20)
            assert sum(src.reconnects.values()) >= 1, src.reconnects
            assert set(src.reconnects) <= {"stream_ended", "stall", "open_failed"}
            with rec.lock:
                later = [t for _, t, _ in rec.frames]
            assert all(b > a for a, b in itertools.pairwise(later))  # clock keeps rising
            assert src.connected
        finally:
            src.stop()
