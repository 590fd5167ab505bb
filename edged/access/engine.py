"""The doors of one worker group: buses and controllers in, events and lock commands out.

`step(now)` is the whole loop body: refresh every OSDP bus once, poll IP controllers, decide
card reads on the spot (store lookup → state machine → output command, the fast path), run
door timers, and group reader losses on one bus into a single `bus_fault`.
"""

from __future__ import annotations

import datetime as dt
import select
import time
import zoneinfo
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

from edged.access import metrics as m
from edged.access.cards import PinBuffer
from edged.access.credentials import CredentialStore
from edged.access.decisions import decide
from edged.access.door import Action, DoorState, Emit, Output
from edged.access.stranger import StrangerRules
from edged.config.doors import DoorConfig
from edged.config.site import SiteConfig
from edged.drivers.osdp_bus import BusEvent, OsdpBus
from edged.drivers.osdp_channel import BusChannel
from edged.drivers.osdp_keys import KeyRing
from edged.events import Event, Priority, new_event

if TYPE_CHECKING:
    from edged.access.controllers import ControllerLink

_log = structlog.get_logger("edged.doors")
RESTORE_CHECK_S = 30.0
DOOR_TICK_S = 0.01


def default_db(cfg: SiteConfig) -> Path:
    return cfg.doors.credentials_db or cfg.runtime.state_dir / "credentials.sqlite"


def default_keys(cfg: SiteConfig) -> Path:
    return cfg.doors.osdp.keys_file or cfg.runtime.state_dir / "osdp-keys.json"


class DoorsEngine:
    def __init__(self, cfg: SiteConfig, group: str, emit: Callable[[Event], None]) -> None:
        d = cfg.doors
        self.group, self.emit_event = group, emit
        self.tz = zoneinfo.ZoneInfo(cfg.site.timezone)
        self.store = CredentialStore(default_db(cfg))
        self.doors = {c.id: DoorState(c) for c in d.doors_of(group)}
        self.stranger = StrangerRules(d.stranger)
        self.pins = {door_id: PinBuffer() for door_id in self.doors}
        self._rex: dict[str, bool] = {}
        self.by_reader = {(c.reader.bus, c.reader.address): c.id for c in d.doors_of(group) if c.reader}
        buses = d.buses_of(group)
        keys = KeyRing.load(default_keys(cfg)) if any(b.secure for b in buses) else None
        self.buses: dict[str, OsdpBus] = {}
        for b in buses:
            addrs = sorted(a for (bus, a) in self.by_reader if bus == b.id)
            if addrs:
                self.buses[b.id] = OsdpBus(b, addrs, keys, d.osdp)
        self.controllers: dict[str, ControllerLink] = {}
        if d.controllers_of(group):  # uhppoted is imported only where controllers are (start-up time)
            from edged.access.controllers import ControllerLink

            self.controllers = {
                c.id: ControllerLink(
                    c, [x for x in d.doors_of(group) if x.controller and x.controller.id == c.id], self
                )
                for c in d.controllers_of(group)
            }
        self._pending_offline: dict[str, list[tuple[int, float]]] = {}
        self._faulted: dict[str, float] = {}  # bus -> when the fault was raised
        self._reported_offline: set[tuple[str, int]] = set()
        self._restore_check: dict[str, float] = {}
        self._next_wall = 0.0
        self.online_doors = 0  # refreshed once a second (with the gauges)
        self.decision_samples: deque[tuple[float, float]] = deque(maxlen=20000)  # (wall, cpu) s
        self.debounce_s = d.osdp.bus_fault_debounce_s
        self._next_tick = 0.0
        self._bus_list = list(self.buses.values())
        self._poller = select.poll()
        self._fds: list[int] = []  # each bus's descriptor when _poller was set up
        self._by_fd: dict[int, BusChannel] = {}
        m.DOORS_CONFIGURED.labels(group=group).set(len(self.doors))

    # --- the loop --------------------------------------------------------------------------
    def step(self, now: float) -> None:
        for bus in self.buses.values():
            for ev in bus.poll(now):
                self._bus_event(bus, ev, now)
        for link in self.controllers.values():
            link.poll(now)
        if now >= self._next_tick:  # door timers are seconds long: 100 passes a second are plenty
            self._next_tick = now + DOOR_TICK_S
            for door in self.doors.values():
                if door.contact_open:
                    self._apply(door, door.tick(now))
            self._flush_offline(now)
        if now >= self._next_wall:
            self._next_wall = now + 1.0
            wall = dt.datetime.now(self.tz)
            for door in self.doors.values():
                self._apply(door, door.wall_tick(now, wall))
            self._gauges()

    def run_pass(self, period: float, between: Callable[[], None] | None = None) -> None:
        """One pass of the worker's loop: step, `between` (commands, heartbeat), then wait out
        the rest of `period` — the wait runs on a late pass too, since it polls the buses."""
        start = time.monotonic()
        self.step(start)
        if between is not None:
            between()
        self.wait(period - (time.monotonic() - start))

    def wait(self, timeout: float) -> None:
        """Sleep out the rest of the loop period (`timeout`, ≤ 0: none), then ask the kernel once
        which buses have input: their channels read it on the next refresh, the others skip the
        read. Call it on every pass, late ones too: it is what lets channels read at all.

        The loop does not wake for each reply: ~4,500 exchanges a second on a full site made a
        wake-up per reply cost more CPU than the ≤ 1 period it saved an exchange. It does not
        sleep while libosdp has a reply in hand or a bus has a command to send (an unlock)."""
        buses = self._bus_list
        if timeout > 0 and not any(b.ready for b in buses):
            time.sleep(timeout)
        fds = [b.fileno() for b in buses]
        if fds != self._fds:  # a channel was (re)opened or went down: (re)register
            self._fds = fds
            self._by_fd = {fd: b.channel for fd, b in zip(fds, buses, strict=True) if fd >= 0}
            self._poller = select.poll()
            for fd in self._by_fd:
                self._poller.register(fd, select.POLLIN)
        for ch in self._by_fd.values():
            ch.readable = False
        for fd, _events in self._poller.poll(0):  # POLLHUP/POLLNVAL too: the read finds out
            self._by_fd[fd].readable = True

    def _gauges(self) -> None:
        readers = sum(b.online_count() for b in self.buses.values())
        readers += sum(1 for c in self.controllers.values() if c.online)
        m.READERS_ONLINE.labels(group=self.group).set(readers)
        self.online_doors = sum(1 for d in self.doors if self.door_online(d))
        m.DOORS_ONLINE.labels(group=self.group).set(self.online_doors)

    def door_online(self, door_id: str) -> bool:
        c = self.doors[door_id].cfg
        if c.reader is not None:
            bus = self.buses.get(c.reader.bus)
            return bus is not None and bus.readers[c.reader.address].state == "online"
        return c.controller is not None and self.controllers[c.controller.id].online

    def all_online(self) -> bool:
        return all(self.door_online(d) for d in self.doors)

    # --- events out ------------------------------------------------------------------------
    def emit(self, type_: str, source: str, data: dict[str, Any], priority: int = Priority.NORMAL) -> None:
        door = self.doors.get(source)
        if door is not None:
            data = {"building": door.cfg.building, "unit": door.cfg.unit, **data}
        self.emit_event(new_event(type_, source, data, priority))

    def _apply(self, door: DoorState, actions: list[Action]) -> None:
        for a in actions:
            if isinstance(a, Emit):
                self.emit(a.type, door.cfg.id, a.data, a.priority)
            elif isinstance(a, Output):
                self.drive(door.cfg, a)

    def drive(self, c: DoorConfig, out: Output) -> bool:
        if c.reader is not None:
            bus = self.buses.get(c.reader.bus)
            return bus is not None and bus.output(c.reader.address, c.lock_output, out.action, out.seconds)
        if c.controller is not None and out.action in ("pulse", "on"):
            return self.controllers[c.controller.id].open_door(c.controller.door)
        return False

    # --- bus events ------------------------------------------------------------------------
    def _bus_event(self, bus: OsdpBus, ev: BusEvent, now: float) -> None:
        if ev.kind == "bus_down":
            self._raise_fault(bus, now, {"reason": ev.data.get("reason"), "port": ev.data.get("port")})
            return
        if ev.kind == "bus_up":
            self._restored(bus, now)
            return
        door_id = self.by_reader.get((bus.id, ev.address or -1))
        if door_id is None:
            return
        door = self.doors[door_id]
        if ev.kind == "card":
            self.credential(door, ev.data["kind"], ev.data["value"], ev.t, now, ev.cpu)
        elif ev.kind == "keypad":
            pin = self.pins[door_id].feed(ev.data["data"], now)
            if pin:
                self.credential(door, "pin", pin, ev.t, now, ev.cpu)
        elif ev.kind == "input":
            self._inputs(door, ev.data["levels"], now)
        elif ev.kind == "tamper":
            self._apply(door, door.set_tamper(ev.data["active"]))
        else:
            self._reader_state(bus, door, ev, now)

    def _inputs(self, door: DoorState, levels: list[int], now: float) -> None:
        c = door.cfg
        if c.contact_input is not None and c.contact_input < len(levels):
            self._apply(door, door.contact(levels[c.contact_input] == c.contact_open_level, now))
        if c.rex_input is not None and c.rex_input < len(levels):
            pressed = bool(levels[c.rex_input])
            if pressed and not self._rex.get(c.id):
                self._apply(door, door.rex(True, now))
            self._rex[c.id] = pressed

    def _reader_state(self, bus: OsdpBus, door: DoorState, ev: BusEvent, now: float) -> None:
        key = (bus.id, ev.address or 0)
        data = {"bus": bus.id, "address": ev.address}
        if ev.kind == "online":
            if bus.id in self._faulted:
                self._restored(bus, now)
            if key in self._reported_offline:
                self._reported_offline.discard(key)
                self.emit("reader_online", door.cfg.id, {**data, "secure": ev.data.get("secure")})
            self._apply(door, door.initial_outputs())
        elif ev.kind == "sc_failed":
            door.forget_inputs()
            self._reported_offline.add(key)
            self.emit(
                "sc_failed", door.cfg.id, {**data, "reason": ev.data.get("reason", "")}, Priority.CRITICAL
            )
        elif ev.kind == "offline":
            door.forget_inputs()
            if bus.id not in self._faulted:
                self._pending_offline.setdefault(bus.id, []).append((ev.address or 0, now))

    def _flush_offline(self, now: float) -> None:
        for bus_id, pending in list(self._pending_offline.items()):
            if now - pending[0][1] < self.debounce_s:
                continue
            del self._pending_offline[bus_id]
            bus = self.buses[bus_id]
            lost = {a for a, _ in pending}
            offline = [r for r in bus.readers.values() if r.state != "online"]
            if len(bus.readers) >= 2 and len(offline) == len(bus.readers) and len(lost) >= 2:
                self._raise_fault(bus, now, {"reason": "every reader on the bus stopped answering"})
                continue
            for a in sorted(lost):
                if bus.readers[a].state == "online":
                    continue
                self._reported_offline.add((bus_id, a))
                door_id = self.by_reader[(bus_id, a)]
                self.emit("reader_offline", door_id, {"bus": bus_id, "address": a}, Priority.CRITICAL)
        for bus_id, when in list(self._restore_check.items()):
            if now >= when:
                del self._restore_check[bus_id]
                for r in self.buses[bus_id].readers.values():
                    key = (bus_id, r.address)
                    if r.state != "online" and key not in self._reported_offline:
                        self._reported_offline.add(key)
                        self.emit(
                            "reader_offline",
                            self.by_reader[key],
                            {"bus": bus_id, "address": r.address},
                            Priority.CRITICAL,
                        )

    def _raise_fault(self, bus: OsdpBus, now: float, data: dict[str, Any]) -> None:
        self._pending_offline.pop(bus.id, None)
        if bus.id in self._faulted:
            return
        self._faulted[bus.id] = now
        self._restore_check.pop(bus.id, None)
        for door_id in self.doors:
            c = self.doors[door_id].cfg
            if c.reader is not None and c.reader.bus == bus.id:
                self.doors[door_id].forget_inputs()
        self.emit(
            "bus_fault", bus.id, {"bus": bus.id, "readers": len(bus.readers), **data}, Priority.CRITICAL
        )

    def _restored(self, bus: OsdpBus, now: float) -> None:
        if self._faulted.pop(bus.id, None) is None:
            return
        self.emit("bus_restored", bus.id, {"bus": bus.id, "readers": len(bus.readers)})
        self._restore_check[bus.id] = now + RESTORE_CHECK_S

    # --- the fast path ---------------------------------------------------------------------
    def credential(
        self, door: DoorState, kind: str, value: str, t_read: float, now: float, cpu_read: float = 0.0
    ) -> None:
        c = door.cfg
        dec = decide(self.store, kind, value, c.access_groups(), time.time(), door.mode == "locked_down")
        if dec.granted:
            self._apply(door, door.grant(now, dec.extended))
        latency = time.perf_counter() - t_read
        self.decision_samples.append((latency, time.thread_time() - cpu_read if cpu_read else 0.0))
        m.DECISION_SECONDS.labels(group=self.group).observe(latency)
        m.DECISIONS.labels(result="granted" if dec.granted else "denied", reason=dec.reason).inc()
        shown = "****" if kind == "pin" else value
        data = {
            "credential_kind": kind,
            "credential": shown,
            "holder": dec.holder,
            "reason": dec.reason,
            "visitor": dec.visitor,
            "decision_ms": round(latency * 1000, 3),
        }
        self.emit("access_granted" if dec.granted else "access_denied", c.id, data)
        if not dec.granted:
            unit = f"{c.building}/{c.unit}" if c.unit else None
            for alert in self.stranger.denied(c.id, unit, dec.reason, now):
                self.emit(
                    "stranger",
                    c.id,
                    {
                        "rule": alert.rule,
                        "scope": alert.scope_key,
                        "denials": alert.denials,
                        "credential_kind": kind,
                        "credential": shown,
                    },
                    Priority.CRITICAL,
                )

    def close(self) -> None:
        for bus in self.buses.values():
            bus.close()
        for link in self.controllers.values():
            link.close()
        self.store.close()
