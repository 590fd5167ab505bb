"""A real RTSP server for tests and the demo: Debian's gst-rtsp-server, run by the system python3.

`RtspServer` (used from the venv) starts this file as a script under /usr/bin/python3, which
has the GObject bindings (python3-gi, gir1.2-gst-rtsp-server-1.0). Each mount plays an H.264
.mp4 without re-encoding, looped forever and paced to real time: an appsink pipeline demuxes
the file (seeking back to 0 at the end) and an appsrc inside the RTSP media receives the access
units with timestamps that keep rising. The script imports nothing from edged.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

SYSTEM_PYTHON = "/usr/bin/python3"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def available() -> str | None:
    """None when a server can run here, else why not (for pytest.skip)."""
    if not Path(SYSTEM_PYTHON).exists():
        return f"{SYSTEM_PYTHON} missing"
    probe = "import gi; gi.require_version('GstRtspServer', '1.0'); from gi.repository import GstRtspServer"
    if subprocess.run([SYSTEM_PYTHON, "-c", probe], capture_output=True, check=False).returncode != 0:
        return "gst-rtsp-server bindings missing (apt: gir1.2-gst-rtsp-server-1.0 python3-gi)"
    if shutil.which("gst-inspect-1.0") is None:
        return "gstreamer tools missing"
    return None


class RtspServer:
    """Serve `{mount: mp4_path}` at rtsp://127.0.0.1:PORT/mount until stopped."""

    def __init__(self, mounts: dict[str, Path], port: int | None = None, log: Path | None = None) -> None:
        self.mounts = mounts
        self.port = port or free_port()
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def url(self, mount: str) -> str:
        return f"rtsp://127.0.0.1:{self.port}/{mount}"

    def start(self, timeout: float = 15.0) -> RtspServer:
        args = [SYSTEM_PYTHON, __file__, "--port", str(self.port)]
        for mount, path in self.mounts.items():
            args += ["--mount", f"{mount}={path}"]
        out = open(self.log, "ab") if self.log else subprocess.DEVNULL  # noqa: SIM115
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
        self.proc = subprocess.Popen(args, stdout=out, stderr=out, env=env, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"RTSP server exited with {self.proc.returncode}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 0.2):
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("RTSP server did not open its port")

    def stop(self, kill: bool = False) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def __enter__(self) -> RtspServer:
        return self.start() if self.proc is None else self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


# ---- the server process (system python3 + GObject introspection) --------------------------


def _serve(port: int, mounts: dict[str, str]) -> None:  # pragma: no cover - runs under /usr/bin/python3
    import threading

    import gi

    gi.require_version("Gst", "1.0")
    gi.require_version("GstRtspServer", "1.0")
    from gi.repository import GLib, Gst, GstRtspServer

    Gst.init(None)

    class Feeder(threading.Thread):
        """Demux `path` forever (seek to 0 at EOS) and push paced access units into `appsrc`."""

        def __init__(self, path: str, appsrc: Gst.Element) -> None:
            super().__init__(daemon=True)
            self.appsrc = appsrc
            self.stop = threading.Event()
            self.path = path

        def open(self) -> tuple[Gst.Element, Gst.Element]:
            demux = Gst.parse_launch(
                f'filesrc location="{self.path}" ! qtdemux name=d d.video_0 ! queue '
                "! h264parse config-interval=-1 "
                "! video/x-h264,stream-format=byte-stream,alignment=au "
                "! appsink name=sink sync=false max-buffers=60"
            )
            demux.set_state(Gst.State.PLAYING)
            return demux, demux.get_by_name("sink")

        def run(self) -> None:
            demux, sink = self.open()
            offset, last_end, start = 0, 0, time.monotonic()
            caps_set = False
            while not self.stop.is_set():
                sample = sink.emit("try-pull-sample", Gst.SECOND // 10)
                if sample is None:
                    if sink.get_property("eos"):  # start the file over; timestamps keep rising
                        demux.set_state(Gst.State.NULL)
                        demux, sink = self.open()
                        offset = last_end
                    continue
                if not caps_set:
                    self.appsrc.set_property("caps", sample.get_caps())
                    caps_set = True
                src = sample.get_buffer()
                none = Gst.CLOCK_TIME_NONE
                pts = src.pts if src.pts != none else 0  # read before the copy: it may share fields
                dts = src.dts if src.dts != none else pts
                dur = src.duration if src.duration != none else Gst.SECOND // 30
                buf = src.copy()
                buf.pts, buf.dts = offset + pts, offset + dts
                last_end = max(last_end, offset + pts + dur)
                delay = start + (offset + dts) / 1e9 - time.monotonic()
                if delay > 0 and self.stop.wait(delay):
                    break
                if self.appsrc.emit("push-buffer", buf) != Gst.FlowReturn.OK:
                    break
            demux.set_state(Gst.State.NULL)

    def configure(path: str) -> object:
        def on_configure(_factory: object, media: GstRtspServer.RTSPMedia) -> None:
            appsrc = media.get_element().get_by_name("src")
            feeder = Feeder(path, appsrc)
            media.connect("unprepared", lambda *_: feeder.stop.set())
            feeder.start()

        return on_configure

    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(port))
    points = server.get_mount_points()
    for mount, path in mounts.items():
        factory = GstRtspServer.RTSPMediaFactory()
        factory.set_launch(
            "( appsrc name=src is-live=true format=time do-timestamp=false "
            "! h264parse ! rtph264pay name=pay0 pt=96 config-interval=1 )"
        )
        factory.set_shared(False)  # every client gets its own feeder, starting at the clip's start
        factory.connect("media-configure", configure(path))
        points.add_factory(f"/{mount}", factory)
    server.attach(None)
    loop = GLib.MainLoop()
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGTERM, loop.quit)
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGINT, loop.quit)
    print(f"serving on {port}: {', '.join(mounts)}", flush=True)
    loop.run()


if __name__ == "__main__":  # pragma: no cover
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--mount", action="append", default=[], help="name=path.mp4")
    ns = parser.parse_args()
    _serve(ns.port, dict(m.split("=", 1) for m in ns.mount))
    sys.exit(0)
