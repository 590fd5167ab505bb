"""One CurveZMQ DEALER session to the server, rebuilt from scratch after every failure.

The box pins the server's public key; its own key pair authenticates it to the server's ZAP
allow-list. ZeroMQ heartbeats (PING/PONG) notice a dead link within `heartbeat_timeout_s`; a
socket monitor reports the handshake result and disconnects. After a failure the socket is
closed and a new one is made after a full-jitter backoff (uniform between `backoff_min_s`
and min(`backoff_max_s`, min·2^attempt)), so a fleet of boxes does not reconnect in step.
"""

from __future__ import annotations

import contextlib
import random
from dataclasses import dataclass
from enum import Enum

import zmq
from zmq.utils.monitor import recv_monitor_message

from edged.uplink import metrics as m
from edged.uplink.keys import KeyPair

MONITORED = (
    zmq.EVENT_HANDSHAKE_SUCCEEDED
    | zmq.EVENT_HANDSHAKE_FAILED_AUTH
    | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
    | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
    | zmq.EVENT_DISCONNECTED
    | zmq.EVENT_CONNECT_RETRIED
)


class LinkEvent(Enum):
    UP = "up"
    DOWN = "down"
    AUTH_FAILED = "auth"


@dataclass(frozen=True)
class LinkSettings:
    server: str
    server_public_key: bytes
    keys: KeyPair
    heartbeat_ivl_s: float = 1.0
    heartbeat_timeout_s: float = 3.0
    handshake_timeout_s: float = 3.0
    backoff_min_s: float = 1.0
    backoff_max_s: float = 10.0


def full_jitter(attempt: int, lo: float, hi: float, rng: random.Random) -> float:
    return rng.uniform(lo, min(hi, lo * 2 ** max(0, attempt)))


class Link:
    def __init__(
        self, ctx: zmq.Context[zmq.Socket[bytes]], settings: LinkSettings, rng: random.Random | None = None
    ):
        self.ctx = ctx
        self.s = settings
        self.rng = rng or random.Random()
        self.sock: zmq.Socket[bytes] | None = None
        self._monitor: zmq.Socket[bytes] | None = None
        self.up = False
        self.attempt = 0
        self.next_attempt = 0.0
        self.deadline = 0.0

    def open(self, now: float) -> None:
        s = self.ctx.socket(zmq.DEALER)
        s.setsockopt(zmq.LINGER, 0)
        s.curve_secretkey = self.s.keys.secret
        s.curve_publickey = self.s.keys.public
        s.curve_serverkey = self.s.server_public_key
        s.setsockopt(zmq.IMMEDIATE, 1)  # never queue messages for a connection that is not up
        s.setsockopt(zmq.HEARTBEAT_IVL, int(self.s.heartbeat_ivl_s * 1000))
        s.setsockopt(zmq.HEARTBEAT_TIMEOUT, int(self.s.heartbeat_timeout_s * 1000))
        s.setsockopt(zmq.HEARTBEAT_TTL, int(self.s.heartbeat_timeout_s * 1000))
        s.setsockopt(zmq.HANDSHAKE_IVL, int(self.s.handshake_timeout_s * 1000))
        s.setsockopt(zmq.RECONNECT_IVL, 600_000)  # reconnects are ours (with jitter), not libzmq's
        s.setsockopt(zmq.SNDHWM, 10_000)
        s.setsockopt(zmq.RCVHWM, 10_000)
        self._monitor = s.get_monitor_socket(MONITORED)
        s.connect(self.s.server)
        self.sock = s
        self.up = False
        self.deadline = now + self.s.handshake_timeout_s + 1.0

    def close(self, now: float, failed: bool = True) -> None:
        if self.sock is not None:
            with contextlib.suppress(zmq.ZMQError):
                self.sock.disable_monitor()
            self.sock.close(linger=0)
        if self._monitor is not None:
            self._monitor.close(linger=0)
        self.sock = self._monitor = None
        self.up = False
        m.CONNECTED.set(0)
        if failed:
            self.attempt += 1
            self.next_attempt = now + full_jitter(
                self.attempt, self.s.backoff_min_s, self.s.backoff_max_s, self.rng
            )

    def poll_sockets(self) -> list[zmq.Socket[bytes]]:
        return [s for s in (self.sock, self._monitor) if s is not None]

    def monitor_events(self) -> list[LinkEvent]:
        """Drain the monitor; translate libzmq events into link events."""
        out: list[LinkEvent] = []
        while self._monitor is not None:
            try:
                msg = recv_monitor_message(self._monitor, zmq.NOBLOCK)
            except zmq.Again:
                break
            ev = msg["event"]
            if ev == zmq.EVENT_HANDSHAKE_SUCCEEDED:
                self.up = True
                m.CONNECTED.set(1)
                m.CONNECTS.labels("ok").inc()
                out.append(LinkEvent.UP)
            elif ev == zmq.EVENT_HANDSHAKE_FAILED_AUTH:
                m.AUTH_FAILURES.inc()
                m.CONNECTS.labels("auth").inc()
                out.append(LinkEvent.AUTH_FAILED)
            elif ev in (zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL, zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL):
                m.CONNECTS.labels("handshake").inc()
                out.append(LinkEvent.DOWN)
            else:  # disconnected, or the TCP connect itself failed
                m.CONNECTS.labels("closed").inc()
                out.append(LinkEvent.DOWN)
        return out

    def handshake_overdue(self, now: float) -> bool:
        if self.sock is not None and not self.up and now > self.deadline:
            m.CONNECTS.labels("timeout").inc()
            return True
        return False

    def send(self, frame: bytes) -> bool:
        if self.sock is None or not self.up:
            return False
        try:
            self.sock.send(frame, zmq.NOBLOCK)
        except zmq.Again:
            return False
        return True

    def recv(self) -> bytes | None:
        if self.sock is None:
            return None
        try:
            return self.sock.recv(zmq.NOBLOCK)
        except zmq.Again:
            return None
