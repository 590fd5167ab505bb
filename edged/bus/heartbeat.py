"""Heartbeats from workers to the supervisor (PUSH → PULL), carrying progress, not just liveness.

Kind ``hb`` ``{"worker", "pid", "seq", "progress": {...}}``. A heartbeat is sent from the
worker's own main loop, so a loop that hangs stops beating and gets restarted.
"""

from __future__ import annotations

import os
import time
from typing import Any

import zmq

from edged.bus.envelope import pack
from edged.bus.sockets import make_socket


class HeartbeatSender:
    def __init__(
        self, ctx: zmq.Context[zmq.Socket[bytes]], endpoint: str, worker: str, interval_s: float
    ) -> None:
        self._sock = make_socket(ctx, zmq.PUSH, hwm=4)
        self._sock.connect(endpoint)
        self._worker, self._pid, self._interval = worker, os.getpid(), interval_s
        self._seq = 0
        self._next = 0.0
        self.progress: dict[str, Any] = {}

    def beat(self, **progress: Any) -> None:
        self.progress.update(progress)
        now = time.monotonic()
        if now < self._next:
            return
        self._seq += 1
        body = {"worker": self._worker, "pid": self._pid, "seq": self._seq, "progress": self.progress}
        try:
            self._sock.send(pack("hb", body), zmq.NOBLOCK)
        except zmq.Again:
            return  # supervisor not connected yet: the next call tries again at once
        self._next = now + self._interval

    def close(self) -> None:
        self._sock.close(linger=0)
