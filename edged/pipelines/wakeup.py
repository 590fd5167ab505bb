"""One wait for both things the camera loop reacts to: a frame offered and a detector reply.

The reader thread pokes a non-blocking pipe when it offers a frame; the loop waits on that
pipe and the detector's socket in one zmq.Poller (which takes raw fds). Before this, the loop
blocked on the socket while a request was in flight and a due frame sat waiting up to the poll
timeout before it was sent.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

import zmq


class Wakeup:
    def __init__(self) -> None:
        self._r, self._w = os.pipe()
        os.set_blocking(self._r, False)
        os.set_blocking(self._w, False)
        self._poller = zmq.Poller()
        self._poller.register(self._r, zmq.POLLIN)
        self._sockets: set[int] = set()

    def watch(self, socket: Any) -> None:
        """Also wake when `socket` (a zmq socket) has something to read."""
        if socket is not None and id(socket) not in self._sockets:
            self._sockets.add(id(socket))
            self._poller.register(socket, zmq.POLLIN)

    def poke(self) -> None:
        """From any thread: wake the waiting loop (a full pipe already means 'wake')."""
        with contextlib.suppress(BlockingIOError, OSError):
            os.write(self._w, b"\0")

    def wait(self, timeout_s: float) -> None:
        if self._r < 0:
            return
        self._poller.poll(max(0, int(timeout_s * 1000)))
        with contextlib.suppress(BlockingIOError, OSError):
            while os.read(self._r, 4096):
                pass

    def close(self) -> None:
        if self._r >= 0:
            os.close(self._r)
            os.close(self._w)
            self._r = self._w = -1
