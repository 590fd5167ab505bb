"""UHPPOTE / 微耕 (WG) IP access controllers: 64-byte UDP packets on port 60000.

The controller decides locally from its own card list; edged supervises it: a status request
every `status_interval_s` (heartbeat; offline after `offline_after` misses), remote open, card
sync from the credential store, and event-index reconciliation, because UDP loses pushed
events: any index between the last one we processed and the controller's latest is fetched
with get-event. Packets are built and parsed with the `uhppoted` library's codec; the transport
here is our own non-blocking socket, so the doors loop never blocks on a lost reply.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import structlog
from prometheus_client import Counter, Histogram
from uhppoted import decode, encode

from edged.config.doors import ControllerConfig

_log = structlog.get_logger("edged.doors.uhppote")

REQUESTS = Counter(
    "edged_uhppote_requests_total", "Requests to IP controllers by result.", ["controller", "result"]
)
RTT = Histogram(
    "edged_uhppote_rtt_seconds",
    "Request to reply from an IP controller.",
    ["controller"],
    buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0),
)
MALFORMED = Counter("edged_uhppote_malformed_packets_total", "Packets dropped as malformed.", ["controller"])

EVENT_SWIPE, EVENT_DOOR, EVENT_ALARM = 1, 2, 3
MAX_FETCH = 200  # events fetched per reconciliation pass


@dataclass
class CtlEvent:
    """kind: swipe {door, card, granted, reason} | door {door, open} | button {door} | online | offline."""

    kind: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Request:
    packet: bytes
    on_reply: Callable[[bytes], None] | None
    sent: float = 0.0


def _addr(hostport: str) -> tuple[str, int]:
    host, _, port = hostport.rpartition(":")
    return host, int(port)


class UhppoteController:
    def __init__(self, cfg: ControllerConfig, next_index: int | None = None) -> None:
        self.cfg, self.id, self.serial = cfg, cfg.id, cfg.serial
        self.addr = _addr(cfg.address)
        self._req = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._req.bind(("0.0.0.0", 0))
        self._req.setblocking(False)
        self._events = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._events.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._events.bind(_addr(cfg.listen))
        self._events.setblocking(False)
        self.listen_port = self._events.getsockname()[1]
        self._queue: deque[_Request] = deque()
        self._inflight: _Request | None = None
        self._out: list[CtlEvent] = []
        self.online = False
        self._misses = 0
        self._next_status = 0.0
        self.next_index = next_index  # next event index to process; None: learn from the first status
        self._fetching: set[int] = set()
        self._doors: dict[int, bool] = {}
        self._buttons: dict[int, bool] = {}
        self._listener_set = False

    # --- requests ------------------------------------------------------------------------
    def _send(self, packet: bytearray | bytes, on_reply: Callable[[bytes], None] | None = None) -> None:
        self._queue.append(_Request(bytes(packet), on_reply))

    def open_door(self, door: int) -> None:
        self._send(encode.open_door_request(self.serial, door), None)

    def put_card(self, card: int, start: dt.date, end: dt.date, doors: list[int], pin: int = 0) -> None:
        d = [*doors, 0, 0, 0, 0][:4]
        self._send(encode.put_card_request(self.serial, card, start, end, d[0], d[1], d[2], d[3], pin), None)

    def delete_card(self, card: int) -> None:
        self._send(encode.delete_card_request(self.serial, card), None)

    def _status(self) -> None:
        self._send(encode.get_status_request(self.serial), self._on_status)

    # --- loop ------------------------------------------------------------------------------
    def poll(self, now: float) -> list[CtlEvent]:
        self._receive_events()
        self._receive_replies(now)
        if self._inflight is not None and now - self._inflight.sent > self.cfg.request_timeout_s:
            REQUESTS.labels(controller=self.id, result="timeout").inc()
            if self._inflight.packet[1] == 0x20:
                self._missed()
            self._fetching.discard(int.from_bytes(self._inflight.packet[8:12], "little"))
            self._inflight = None
        if now >= self._next_status:
            self._next_status = now + self.cfg.status_interval_s
            self._status()
        if self._inflight is None and self._queue:
            req = self._queue.popleft()
            req.sent = now
            try:
                self._req.sendto(req.packet, self.addr)
                self._inflight = req
            except OSError as exc:
                REQUESTS.labels(controller=self.id, result="error").inc()
                _log.warning("send failed", controller=self.id, error=str(exc))
        out, self._out = self._out, []
        return out

    def _receive_replies(self, now: float) -> None:
        while True:
            try:
                pkt = self._req.recv(1024)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            req = self._inflight
            if len(pkt) != 64 or req is None or pkt[1] != req.packet[1]:
                MALFORMED.labels(controller=self.id).inc()
                continue
            self._inflight = None
            REQUESTS.labels(controller=self.id, result="ok").inc()
            RTT.labels(controller=self.id).observe(time.monotonic() - req.sent)
            if req.on_reply is not None:
                try:
                    req.on_reply(pkt)
                except (ValueError, TypeError, IndexError) as exc:
                    MALFORMED.labels(controller=self.id).inc()
                    _log.warning("bad reply", controller=self.id, error=str(exc))

    def _receive_events(self) -> None:
        while True:
            try:
                pkt = self._events.recv(1024)
            except (BlockingIOError, InterruptedError, OSError):
                return
            try:
                ev = decode.event(pkt)
            except (ValueError, TypeError, IndexError):
                MALFORMED.labels(controller=self.id).inc()
                continue
            if ev.controller != self.serial:
                continue
            self._states(ev)
            self._reconcile(ev.event_index)

    def _missed(self) -> None:
        self._misses += 1
        if self.online and self._misses >= self.cfg.offline_after:
            self.online = False
            self._out.append(CtlEvent("offline", {"misses": self._misses}))

    def _on_status(self, pkt: bytes) -> None:
        st = decode.get_status_response(pkt)
        self._misses = 0
        if not self.online:
            self.online = True
            self._out.append(CtlEvent("online", {}))
            if not self._listener_set:
                self._set_listener()
        self._states(st)
        self._reconcile(st.event_index)

    def _set_listener(self) -> None:
        host = self.cfg.listen.rpartition(":")[0]
        if host in ("0.0.0.0", ""):
            host = self._req.getsockname()[0] if self._req.getsockname()[0] != "0.0.0.0" else "127.0.0.1"
        self._send(
            encode.set_listener_request(self.serial, ipaddress.IPv4Address(host), self.listen_port), None
        )
        self._listener_set = True

    def _states(self, st: Any) -> None:
        for door in (1, 2, 3, 4):
            is_open = bool(getattr(st, f"door_{door}_open"))
            if self._doors.get(door) != is_open:
                self._doors[door] = is_open
                self._out.append(CtlEvent("door", {"door": door, "open": is_open}))
            pressed = bool(getattr(st, f"door_{door}_button"))
            if pressed and not self._buttons.get(door):
                self._out.append(CtlEvent("button", {"door": door}))
            self._buttons[door] = pressed

    # --- event reconciliation ----------------------------------------------------------------
    def _reconcile(self, latest: int) -> None:
        if self.next_index is None:
            self.next_index = latest + 1  # first contact: history is not replayed
            return
        for index in range(self.next_index, min(latest + 1, self.next_index + MAX_FETCH)):
            if index not in self._fetching:
                self._fetching.add(index)
                self._send(encode.get_event_request(self.serial, index), self._on_event)

    def _on_event(self, pkt: bytes) -> None:
        ev = decode.get_event_response(pkt)
        self._fetching.discard(ev.index)
        if self.next_index is None or ev.index != self.next_index:
            return  # an old or out-of-order fetch; the next pass asks again
        self.next_index = ev.index + 1
        if ev.event_type == EVENT_SWIPE:
            self._out.append(
                CtlEvent(
                    "swipe",
                    {
                        "door": ev.door,
                        "card": ev.card,
                        "granted": bool(ev.access_granted),
                        "reason": ev.reason,
                        "index": ev.index,
                    },
                )
            )

    def close(self) -> None:
        self._req.close()
        self._events.close()
