"""Live state and telemetry fan-out: PUB → XSUB/XPUB proxy (in the supervisor) → SUB. Loss is fine.

A PUB socket drops silently at its high-water mark (ZeroMQ gives no signal, so there is no
drop counter to keep): that is why nothing that must arrive travels this way.
"""

from __future__ import annotations

import threading
from typing import Any

import zmq

from edged.bus.envelope import MalformedMessage, pack, unpack
from edged.bus.malformed import MalformedCounter
from edged.bus.sockets import make_socket


class TelemetryPublisher:
    def __init__(self, ctx: zmq.Context[zmq.Socket[bytes]], endpoint: str, worker: str = "") -> None:
        self._sock = make_socket(ctx, zmq.PUB, hwm=1000)
        self._sock.connect(endpoint)
        self._lock = threading.Lock()  # publish() may be called from several threads

    def publish(self, topic: str, body: Any) -> None:
        with self._lock:
            self._sock.send_multipart([topic.encode(), pack("telemetry", body)], zmq.NOBLOCK)

    def close(self) -> None:
        self._sock.close(linger=0)


class TelemetrySubscriber:
    def __init__(self, ctx: zmq.Context[zmq.Socket[bytes]], endpoint: str, topics: list[str]) -> None:
        self.socket = make_socket(ctx, zmq.SUB, hwm=10_000)
        for topic in topics or [""]:
            self.socket.setsockopt(zmq.SUBSCRIBE, topic.encode())
        self.socket.connect(endpoint)
        self._malformed = MalformedCounter("telemetry-sub")

    def recv(self, timeout_ms: int) -> tuple[str, Any] | None:
        if not self.socket.poll(timeout_ms, zmq.POLLIN):
            return None
        frames = self.socket.recv_multipart()
        try:
            if len(frames) != 2:
                raise MalformedMessage(f"{len(frames)} frames")
            return frames[0].decode("utf-8", "replace"), unpack(frames[1], ("telemetry",)).body
        except MalformedMessage as exc:
            self._malformed.drop(exc)
            return None

    def close(self) -> None:
        self.socket.close(linger=0)


class TelemetryProxy:
    """XSUB (workers publish in) ↔ XPUB (anyone subscribes out), run in a supervisor thread."""

    def __init__(self, ctx: zmq.Context[zmq.Socket[bytes]], endpoint_in: str, endpoint_out: str) -> None:
        self._ctx = ctx
        self._xsub = make_socket(ctx, zmq.XSUB, hwm=10_000)
        self._xsub.bind(endpoint_in)
        self._xpub = make_socket(ctx, zmq.XPUB, hwm=10_000)
        self._xpub.bind(endpoint_out)
        self._control_ep = f"inproc://telemetry-proxy-{id(self)}"
        self._control = ctx.socket(zmq.PAIR)
        self._control.bind(self._control_ep)
        self._thread = threading.Thread(target=self._run, name="telemetry-proxy", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        control = self._ctx.socket(zmq.PAIR)
        control.connect(self._control_ep)
        try:
            zmq.proxy_steerable(self._xsub, self._xpub, None, control)
        except zmq.ContextTerminated:
            pass
        finally:
            control.close(linger=0)
            self._xsub.close(linger=0)
            self._xpub.close(linger=0)

    def close(self) -> None:
        self._control.send(b"TERMINATE")
        self._thread.join(timeout=2)
        self._control.close(linger=0)
