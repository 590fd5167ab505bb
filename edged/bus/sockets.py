"""Socket construction with the options every edged socket needs (one place, not per worker)."""

from __future__ import annotations

import zmq


def make_socket(ctx: zmq.Context[zmq.Socket[bytes]], kind: int, *, hwm: int = 10_000) -> zmq.Socket[bytes]:
    sock = ctx.socket(kind)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.SNDHWM, hwm)
    sock.setsockopt(zmq.RCVHWM, hwm)
    sock.setsockopt(zmq.RECONNECT_IVL, 100)
    sock.setsockopt(zmq.RECONNECT_IVL_MAX, 1000)
    if kind in (zmq.DEALER, zmq.PUSH):
        # Never queue into a pipe whose peer is not there: send fails fast, the caller keeps the message.
        sock.setsockopt(zmq.IMMEDIATE, 1)
    return sock
