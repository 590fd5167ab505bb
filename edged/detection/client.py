"""The camera side of detection: a DEALER with a small credit of requests in flight.

Why credit: a camera producing frames faster than its share of the detector must drop them
*at the source* instead of queueing stale frames in sockets. With ``credits`` (1–2)
requests outstanding, `submit` refuses the next frame (counted as ``no_credit``).
Every request ends in exactly one way — a reply, a ``dropped`` answer from the detector, or
a local timeout — and each returns its credit.
A reply that arrives after its timeout is ignored.

Single-threaded: the camera worker calls `submit` and `poll` from its own loop (or waits on
`socket` in its own zmq.Poller).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import zmq

from edged.bus.envelope import MalformedMessage, pack, unpack
from edged.bus.malformed import MalformedCounter
from edged.bus.sockets import make_socket
from edged.detection import metrics
from edged.detection.protocol import DETECT, MAX_ROIS, REPLY_KINDS, DetectReply, DetectRequest
from edged.detection.types import Detection


@dataclass(frozen=True, slots=True)
class DetectResult:
    seq: int
    detections: list[Detection]
    rtt_s: float  # submit to reply
    infer_s: float = 0.0
    queue_s: float = 0.0
    dropped: str | None = None  # detector's reason (stale, overwritten, ...) or "timeout"

    @property
    def ok(self) -> bool:
        return self.dropped is None


@dataclass
class _InFlight:
    seq: int
    sent: float  # monotonic


class DetectorClient:
    def __init__(
        self,
        zctx: zmq.Context[zmq.Socket[bytes]],
        endpoint: str,
        camera: str,
        credits: int = 2,
        timeout_s: float = 1.0,
    ) -> None:
        if not 1 <= credits <= 8:
            raise ValueError("credits must be 1..8")
        self.camera = camera
        self.credits = credits
        self.timeout_s = timeout_s
        self.socket = make_socket(zctx, zmq.DEALER, hwm=max(4, credits * 2))
        self.socket.connect(endpoint)
        self._next_id = 1
        self._in_flight: dict[int, _InFlight] = {}
        self._malformed = MalformedCounter(f"detect-client:{camera}")
        self._m_no_credit = metrics.CLIENT_DROPPED.labels(camera=camera, reason="no_credit")
        self._m_unavailable = metrics.CLIENT_DROPPED.labels(camera=camera, reason="unavailable")
        self._m_timeouts = metrics.CLIENT_TIMEOUTS.labels(camera=camera)
        self._m_rtt = metrics.CLIENT_ROUNDTRIP_SECONDS.labels(camera=camera)
        self.sent = 0
        self.dropped_no_credit = 0
        self.timeouts = 0

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    @property
    def has_credit(self) -> bool:
        return len(self._in_flight) < self.credits

    def submit(
        self,
        ring: str,
        slot: int,
        seq: int,
        t_capture: float,
        rois: list[list[float]] | None = None,
    ) -> bool:
        """Ask for detections on frame ``seq``; False (frame dropped, counted) without credit."""
        self._expire(time.monotonic())
        if not self.has_credit:
            self._m_no_credit.inc()
            self.dropped_no_credit += 1
            return False
        if rois is not None:  # too many regions: the whole frame is cheaper (and in the protocol)
            rois = [[float(v) for v in r] for r in rois] if len(rois) <= MAX_ROIS else None
        req = DetectRequest(self._next_id, self.camera, ring, slot, seq, t_capture, rois)
        try:
            self.socket.send(pack(DETECT, req.body()), zmq.NOBLOCK)
        except zmq.Again:  # detector not connected (starting or restarting)
            self._m_unavailable.inc()
            return False
        self._in_flight[req.id] = _InFlight(seq, time.monotonic())
        self._next_id += 1
        self.sent += 1
        return True

    def poll(self, timeout_s: float = 0.0) -> list[DetectResult]:
        """Replies that arrived (waiting up to ``timeout_s`` for the first), plus timeouts."""
        results: list[DetectResult] = []
        if self.socket.poll(int(timeout_s * 1000)):
            while True:
                try:
                    frame = self.socket.recv(zmq.NOBLOCK)
                except zmq.Again:
                    break
                result = self._accept(frame)
                if result is not None:
                    results.append(result)
        results.extend(self._expire(time.monotonic()))
        return results

    def _accept(self, frame: bytes) -> DetectResult | None:
        try:
            env = unpack(frame, REPLY_KINDS)
            reply = DetectReply.from_envelope(env.kind, env.body)
        except MalformedMessage as exc:
            self._malformed.drop(exc)
            return None
        pending = self._in_flight.pop(reply.id, None)
        if pending is None:
            return None  # late reply to a request that already timed out
        rtt = time.monotonic() - pending.sent
        self._m_rtt.observe(rtt)
        return DetectResult(reply.seq, reply.detections, rtt, reply.infer_s, reply.queue_s, reply.dropped)

    def _expire(self, now: float) -> list[DetectResult]:
        expired = [rid for rid, f in self._in_flight.items() if now - f.sent > self.timeout_s]
        out = []
        for rid in expired:
            pending = self._in_flight.pop(rid)
            self._m_timeouts.inc()
            self.timeouts += 1
            out.append(DetectResult(pending.seq, [], now - pending.sent, dropped="timeout"))
        return out

    def stats(self) -> dict[str, Any]:
        return {
            "sent": self.sent,
            "in_flight": self.in_flight,
            "dropped_no_credit": self.dropped_no_credit,
            "timeouts": self.timeouts,
        }

    def close(self) -> None:
        self.socket.close(linger=0)
