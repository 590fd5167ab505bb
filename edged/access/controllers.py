"""Supervising one UHPPOTE controller: its events become door events, the store is synced to it.

The controller decides swipes itself (it keeps working if the box is down); we report its
decision, feed denials to the stranger rules (classified against our own store) and keep
the door state machines in step so a granted opening is not taken for a forced one.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import TYPE_CHECKING, Any

import structlog

from edged.access.decisions import decide
from edged.access.door import Emit
from edged.config.doors import ControllerConfig, DoorConfig
from edged.drivers.uhppote import CtlEvent, UhppoteController
from edged.events import Priority

if TYPE_CHECKING:
    from edged.access.engine import DoorsEngine

_log = structlog.get_logger("edged.doors")
SYNC_CHECK_S = 5.0
FAR_PAST, FAR_FUTURE = dt.date(2000, 1, 1), dt.date(2099, 12, 31)


class ControllerLink:
    def __init__(self, cfg: ControllerConfig, doors: list[DoorConfig], engine: DoorsEngine) -> None:
        self.cfg, self.engine = cfg, engine
        self.ctl = UhppoteController(cfg)
        self.doors = {d.controller.door: d.id for d in doors if d.controller is not None}
        self._synced_version = -1
        self._synced_cards: set[int] = set()
        self._next_sync = 0.0
        self._reported_offline = False

    @property
    def online(self) -> bool:
        return self.ctl.online

    def open_door(self, door_no: int) -> bool:
        if not self.ctl.online:
            return False
        self.ctl.open_door(door_no)
        return True

    def poll(self, now: float) -> None:
        for ev in self.ctl.poll(now):
            self._event(ev, now)
        if self.ctl.online and now >= self._next_sync:
            self._next_sync = now + SYNC_CHECK_S
            if self.engine.store.version != self._synced_version or self._synced_version < 0:
                self.sync_cards()

    def _event(self, ev: CtlEvent, now: float) -> None:
        if ev.kind in ("online", "offline"):
            self._state(ev.kind)
            return
        door_id = self.doors.get(int(ev.data.get("door", 0)))
        if door_id is None:
            return
        door = self.engine.doors[door_id]
        if ev.kind == "door":
            self._emits(door_id, door.contact(bool(ev.data["open"]), now))
        elif ev.kind == "button":
            self._emits(door_id, door.rex(True, now))
        elif ev.kind == "swipe":
            self._swipe(door_id, ev.data, now)

    def _emits(self, door_id: str, actions: list[Any]) -> None:
        """Only the events: the controller drives its own lock."""
        for a in actions:
            if isinstance(a, Emit):
                self.engine.emit(a.type, door_id, a.data, a.priority)

    def _swipe(self, door_id: str, data: dict[str, Any], now: float) -> None:
        door = self.engine.doors[door_id]
        card = str(data["card"])
        dec = decide(self.engine.store, "card", card, door.cfg.access_groups(), time.time())
        granted = bool(data["granted"])
        if granted:
            self._emits(door_id, door.grant(now))
        reason = "valid" if granted else (dec.reason if not dec.granted else "controller_denied")
        out = {
            "credential_kind": "card",
            "credential": card,
            "holder": dec.holder,
            "reason": reason,
            "visitor": dec.visitor,
            "decided_by": "controller",
            "event_index": data.get("index"),
        }
        self.engine.emit("access_granted" if granted else "access_denied", door_id, out)
        if not granted:
            c = door.cfg
            unit = f"{c.building}/{c.unit}" if c.unit else None
            for alert in self.engine.stranger.denied(door_id, unit, reason, now):
                self.engine.emit(
                    "stranger",
                    door_id,
                    {
                        "rule": alert.rule,
                        "scope": alert.scope_key,
                        "denials": alert.denials,
                        "credential_kind": "card",
                        "credential": card,
                    },
                    Priority.CRITICAL,
                )

    def _state(self, kind: str) -> None:
        data = {"controller": self.cfg.id}
        if kind == "offline":
            self._reported_offline = True
            for door_id in self.doors.values():
                self.engine.doors[door_id].forget_inputs()
            self.engine.emit("reader_offline", self.cfg.id, data, Priority.CRITICAL)
        elif self._reported_offline:
            self._reported_offline = False
            self.engine.emit("reader_online", self.cfg.id, data)
            self._synced_version = -1  # it may have been reset while away

    def sync_cards(self) -> int:
        """Push every card that opens one of this controller's doors; delete the ones we pushed
        before that no longer do. Returns the number of cards pushed."""
        groups = {no: self.engine.doors[d].cfg.access_groups() for no, d in self.doors.items()}
        wanted: dict[int, tuple[dt.date, dt.date, list[int]]] = {}
        for cred in self.engine.store.all():
            if cred.kind != "card" or not cred.value.isdigit() or int(cred.value) > 0xFFFFFFFF:
                continue
            number = int(cred.value)
            start = dt.datetime.fromtimestamp(cred.valid_from, dt.UTC).date() if cred.valid_from else FAR_PAST
            end = (
                dt.datetime.fromtimestamp(cred.valid_until, dt.UTC).date() if cred.valid_until else FAR_FUTURE
            )
            perms = wanted.setdefault(number, (start, end, [0, 0, 0, 0]))[2]
            for no, g in groups.items():
                if cred.door_group in g:
                    perms[no - 1] = 1
        wanted = {k: v for k, v in wanted.items() if any(v[2])}
        for number, (start, end, perms) in wanted.items():
            self.ctl.put_card(number, start, end, perms)
        for number in self._synced_cards - set(wanted):
            self.ctl.delete_card(number)
        self._synced_cards = set(wanted)
        self._synced_version = self.engine.store.version
        _log.info("cards synced", controller=self.cfg.id, cards=len(wanted), version=self._synced_version)
        return len(wanted)

    def close(self) -> None:
        self.ctl.close()
