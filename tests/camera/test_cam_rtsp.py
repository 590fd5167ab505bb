"""Real RTSP (gst-rtsp-server under the system python3) into two cameras' sources.

Camera A's server is killed mid-stream and restarted on the same port: A counts the
reconnect and gets frames again; camera B, on its own server, never stops receiving.
"""

from __future__ import annotations

import itertools
import threading
import time
from pathlib import Path

import pytest
from cam_synth import Mover, write_clip

from edged.config.camera import DecodeConfig
from edged.pipelines import rtsp_server
from edged.pipelines.sources import VideoSource

pytestmark = pytest.mark.skipif(rtsp_server.available() is not None, reason=str(rtsp_server.available()))


class Recorder:
    def __init__(self) -> None:
        self.walls: list[float] = []
        self.ts: list[float] = []
        self.shapes: set[tuple[int, ...]] = set()
        self.lock = threading.Lock()

    def __call__(self, image: object, t: float, wall: float, index: int) -> None:
        with self.lock:
            self.walls.append(time.monotonic())
            self.ts.append(t)
            self.shapes.add(getattr(image, "shape", ()))

    def count(self) -> int:
        with self.lock:
            return len(self.walls)

    def wait(self, n: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.count() < n and time.monotonic() < deadline:
            time.sleep(0.05)
        assert self.count() >= n, f"only {self.count()} frames"


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("rtsp")
    return write_clip(d / "clip.mp4", [Mover([(0, 50, 300), (3, 600, 300)])], 3.0, fps=10)


@pytest.mark.parametrize("transport", ["tcp", "udp"])
def test_frames_arrive_over_rtsp(clip: Path, transport: str) -> None:
    with rtsp_server.RtspServer({"cam": clip}) as srv:
        rec = Recorder()
        cfg = DecodeConfig(transport=transport, width=320)
        src = VideoSource("rtsp-" + transport, srv.url("cam"), cfg, 10.0, rec)
        src.start()
        try:
            rec.wait(25, 20)  # 3 s clip at 10 fps, looped by the server: > 1 loop
        finally:
            src.stop()
        assert rec.shapes == {(180, 320, 3)}
        assert src.native_width == 640
        assert all(b > a for a, b in zip(rec.ts, rec.ts[1:], strict=False))  # stream clock rises


def test_killed_server_reconnects_and_other_camera_never_stops(clip: Path, tmp_path: Path) -> None:
    server_a = rtsp_server.RtspServer({"a": clip}, log=tmp_path / "a.log").start()
    server_b = rtsp_server.RtspServer({"b": clip}, log=tmp_path / "b.log").start()
    cfg = DecodeConfig(stall_timeout_s=2.0, open_timeout_s=3.0, backoff_min_s=0.2, backoff_max_s=1.0)
    rec_a, rec_b = Recorder(), Recorder()
    src_a = VideoSource("cam-a", server_a.url("a"), cfg, 10.0, rec_a)
    src_b = VideoSource("cam-b", server_b.url("b"), cfg, 10.0, rec_b)
    src_a.start()
    src_b.start()
    try:
        rec_a.wait(10, 20)
        rec_b.wait(10, 20)
        server_a.stop(kill=True)  # SIGKILL mid-stream
        killed_at = time.monotonic()
        time.sleep(3.0)
        frames_while_down = rec_a.count()
        assert sum(src_a.reconnects.values()) >= 1, src_a.reconnects
        server_a.start()  # same port
        rec_a.wait(frames_while_down + 10, 30)
        back_at = rec_a.walls[frames_while_down]
        assert back_at > killed_at
        assert src_a.connected
        # B kept its pace the whole time: no gap longer than 1 s while A was down and back
        rec_b.wait(rec_b.count() + 5, 10)
        with rec_b.lock:
            walls_b = [w for w in rec_b.walls if w >= killed_at - 1]
        assert walls_b and walls_b[-1] >= back_at
        assert max(b - a for a, b in itertools.pairwise(walls_b)) < 1.0
        assert not src_b.reconnects
    finally:
        src_a.stop()
        src_b.stop()
        server_a.stop()
        server_b.stop()
