"""Our own simulator of a UHPPOTE controller (no vendor simulator runs here): a UDP server that
answers the 64-byte requests edged uses, decides card swipes from its own card list, keeps an
event log with indices and pushes events to the listener — optionally dropping pushes, as UDP
does, to exercise event-index reconciliation.
"""

from __future__ import annotations

import datetime as dt
import socket
import struct
import threading
from dataclasses import dataclass

SOM = 0x17


def _bcd(text: str) -> bytes:
    return bytes.fromhex(text)


def _date(packet: bytes, at: int) -> dt.date | None:
    try:
        return dt.datetime.strptime(packet[at : at + 4].hex(), "%Y%m%d").date()
    except ValueError:
        return None


@dataclass
class SimEvent:
    index: int
    type: int  # 1 swipe, 2 door, 3 alarm
    granted: bool
    door: int
    card: int
    reason: int
    when: dt.datetime


class SimController:
    def __init__(self, serial: int, host: str = "127.0.0.1", port: int = 0) -> None:
        self.serial = serial
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, port))
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self.cards: dict[int, tuple[dt.date, dt.date, list[int]]] = {}
        self.events: list[SimEvent] = []
        self.doors_open = [False] * 4
        self.buttons = [False] * 4
        self.opened: list[int] = []  # doors opened remotely
        self.listener: tuple[str, int] | None = None
        self.drop_pushes = False
        self.silent = False
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="uhppote-sim", daemon=True)

    # --- script ---------------------------------------------------------------------------
    def swipe(self, door: int, card: int) -> bool:
        today = dt.date.today()
        entry = self.cards.get(card)
        granted = bool(entry and entry[0] <= today <= entry[1] and entry[2][door - 1])
        self._record(1, granted, door, card, 1 if granted else 6)
        return granted

    def set_door(self, door: int, is_open: bool) -> None:
        self.doors_open[door - 1] = is_open
        self._record(2, True, door, 0, 23 if is_open else 24)

    def press_button(self, door: int) -> None:
        self.buttons[door - 1] = True
        self._record(2, True, door, 0, 20)
        self.buttons[door - 1] = False

    def _record(self, type_: int, granted: bool, door: int, card: int, reason: int) -> None:
        with self._lock:
            ev = SimEvent(len(self.events) + 1, type_, granted, door, card, reason, dt.datetime.now())
            self.events.append(ev)
            if self.listener is not None and not self.drop_pushes:
                pkt = self._status_packet(0x20, ev)
                self.sock.sendto(pkt, self.listener)

    # --- protocol -------------------------------------------------------------------------
    def _head(self, fn: int) -> bytearray:
        pkt = bytearray(64)
        pkt[0], pkt[1] = SOM, fn
        struct.pack_into("<I", pkt, 4, self.serial)
        return pkt

    def _event_fields(self, pkt: bytearray, ev: SimEvent | None) -> None:
        if ev is None:
            return
        struct.pack_into("<IBBBBI", pkt, 8, ev.index, ev.type, int(ev.granted), ev.door, 1, ev.card)
        pkt[20:27] = _bcd(ev.when.strftime("%Y%m%d%H%M%S"))
        pkt[27] = ev.reason

    def _status_packet(self, fn: int, ev: SimEvent | None) -> bytes:
        pkt = self._head(fn)
        self._event_fields(pkt, ev)
        for i in range(4):
            pkt[28 + i] = int(self.doors_open[i])
            pkt[32 + i] = int(self.buttons[i])
        now = dt.datetime.now()
        pkt[37:40] = _bcd(now.strftime("%H%M%S"))
        pkt[51:54] = _bcd(now.strftime("%y%m%d"))
        return bytes(pkt)

    def _handle(self, req: bytes) -> bytes | None:
        if len(req) != 64 or req[0] != SOM or struct.unpack_from("<I", req, 4)[0] not in (0, self.serial):
            return None
        fn = req[1]
        with self._lock:
            last = self.events[-1] if self.events else None
            if fn == 0x20:
                return self._status_packet(0x20, last)
            out = self._head(fn)
            if fn == 0x40:
                door = req[8]
                self.opened.append(door)
                out[8] = 1
            elif fn == 0x50:
                card = struct.unpack_from("<I", req, 8)[0]
                start, end = _date(req, 12), _date(req, 16)
                if start and end:
                    self.cards[card] = (start, end, list(req[20:24]))
                out[8] = 1
            elif fn == 0x52:
                out[8] = int(self.cards.pop(struct.unpack_from("<I", req, 8)[0], None) is not None)
            elif fn == 0x54:
                self.cards.clear()
                out[8] = 1
            elif fn == 0x58:
                struct.pack_into("<I", out, 8, len(self.cards))
            elif fn == 0x90:
                host = socket.inet_ntoa(req[8:12])
                self.listener = (host, struct.unpack_from("<H", req, 12)[0])
                out[8] = 1
            elif fn == 0xB0:
                index = struct.unpack_from("<I", req, 8)[0]
                ev = self.events[index - 1] if 1 <= index <= len(self.events) else None
                if ev is None:
                    struct.pack_into("<I", out, 8, index)
                    out[12] = 0xFF  # overwritten / not found
                else:
                    self._event_fields(out, ev)
            elif fn == 0xB4:
                struct.pack_into("<I", out, 8, len(self.events))
            else:
                return None
            return bytes(out)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                req, peer = self.sock.recvfrom(1024)
            except (TimeoutError, OSError):
                continue
            if self.silent:
                continue
            reply = self._handle(req)
            if reply is not None:
                self.sock.sendto(reply, peer)

    def start(self) -> SimController:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()
