"""Access control: RS-485 OSDP buses, UHPPOTE IP controllers and the unit doors they serve.

A door names either an OSDP reader (`reader: {bus, address}`) or an IP-controller door
(`controller: {id, door}`). Buses and controllers carry a `group`: one `doors:<group>` worker
runs each group (see `DoorsConfig.worker_groups`), so one bad bus cannot stall another.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from edged.config.base import Strict

DoorMode = Literal["normal", "always_open", "locked_down"]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
ALL_DAYS: list[Weekday] = list(WEEKDAYS)
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


class ReaderRef(Strict):
    bus: str = Field(min_length=1, description="id of a bus in doors.buses")
    address: int = Field(ge=0, le=126, description="OSDP address of the reader on that bus")


class ControllerRef(Strict):
    id: str = Field(min_length=1, description="id of a controller in doors.controllers")
    door: int = Field(ge=1, le=4, description="door number on the controller (1-4)")


class ScheduleEntry(Strict):
    """A weekly window in which the door runs in `mode` (site local time)."""

    mode: DoorMode
    days: list[Weekday] = Field(default_factory=lambda: list(ALL_DAYS))
    start: str = Field(description="HH:MM")
    end: str = Field(description="HH:MM; before start means the window runs past midnight")

    @field_validator("start", "end")
    @classmethod
    def _hhmm(cls, v: str) -> str:
        if not _HHMM.match(v):
            raise ValueError("expected HH:MM (24 h)")
        return v

    def minutes(self) -> tuple[int, int]:
        s = dt.time.fromisoformat(self.start)
        e = dt.time.fromisoformat(self.end)
        return s.hour * 60 + s.minute, e.hour * 60 + e.minute


class DoorConfig(Strict):
    id: str = Field(min_length=1)
    building: str
    unit: str | None = None
    reader: ReaderRef | None = None
    controller: ControllerRef | None = None
    groups: list[str] = Field(
        default_factory=list,
        description="extra credential groups this door belongs to (besides building and building/unit)",
    )
    lock_output: int = Field(0, ge=0, le=7, description="reader output wired to the lock relay")
    contact_input: int | None = Field(0, ge=0, le=7, description="door-position contact; null: none")
    rex_input: int | None = Field(1, ge=0, le=7, description="exit button (REX); null: none")
    contact_open_level: Literal[0, 1] = Field(1, description="input level that means 'door open'")
    unlock_s: float = Field(5.0, gt=0, le=60)
    extended_unlock_s: float = Field(15.0, gt=0, le=300, description="for credentials flagged extended")
    held_open_prealarm_s: float = Field(20.0, gt=0, le=3600)
    held_open_s: float = Field(30.0, gt=0, le=3600, description="open this long after a grant: alarm")
    relock_on_close: bool = True
    fail_mode: Literal["secure", "safe"] = Field(
        "secure", description="what the lock does without power (noted; wiring decides)"
    )
    evacuation: bool = Field(False, description="opens on a fire alarm")
    mode: DoorMode = "normal"
    schedule: list[ScheduleEntry] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_device(self) -> DoorConfig:
        if (self.reader is None) == (self.controller is None):
            raise ValueError("a door needs exactly one of reader or controller")
        if self.held_open_prealarm_s >= self.held_open_s:
            raise ValueError("held_open_prealarm_s must be below held_open_s")
        return self

    def access_groups(self) -> frozenset[str]:
        """Credential groups that open this door: '*', the building, building/unit, extras."""
        out = {"*", self.building, *self.groups}
        if self.unit:
            out.add(f"{self.building}/{self.unit}")
        return frozenset(out)


class BusConfig(Strict):
    """One RS-485 bus: a USB adapter (`/dev/ttyUSB0`) or a serial server (`tcp://host:port`)."""

    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    group: str | None = Field(None, description="doors worker that runs this bus; default: the bus id")
    port: str = Field(min_length=1)
    baud: int = Field(115200, ge=9600, le=230400)
    max_readers: int = Field(16, ge=1, le=32, description="libosdp 3.2.9 overflows above 32 per panel")
    secure: bool = Field(True, description="require the secure channel (never fall back to plaintext)")
    install_mode: bool = Field(False, description="provision new readers from SCBK-D to the site key")

    def worker_group(self) -> str:
        return self.group or self.id


class ControllerConfig(Strict):
    """A UHPPOTE / 微耕 IP controller (64-byte UDP, port 60000)."""

    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    group: str | None = None
    serial: int = Field(ge=1, le=0xFFFFFFFF, description="controller serial number")
    address: str = Field(pattern=r"^[^:]+:\d{1,5}$", description="host:port of the controller")
    listen: str = Field("0.0.0.0:60001", pattern=r"^[^:]+:\d{1,5}$", description="where events arrive")
    status_interval_s: float = Field(5.0, gt=0, le=300)
    request_timeout_s: float = Field(1.0, gt=0, le=10)
    offline_after: int = Field(3, ge=1, le=100, description="missed status requests before offline")

    def worker_group(self) -> str:
        return self.group or self.id


class OsdpConfig(Strict):
    keys_file: Path | None = Field(
        None,
        description="JSON {'<bus>:<address>' or 'default': hex SCBK}; default <state_dir>/osdp-keys.json",
    )
    refresh_interval_s: float = Field(0.002, ge=0.0005, le=0.002, description="own refresh loop period")
    offline_cycle_s: float = Field(
        10.0, ge=5, le=30, description="disable/enable an offline reader this often"
    )
    sc_grace_s: float = Field(
        2.0,
        ge=0.5,
        le=60,
        description="a reader whose secure-channel handshake is rejected is sc_failed only if no "
        "secure session comes up for this long (a handshake in progress or late never counts)",
    )
    sc_attempts: int = Field(
        2, ge=1, le=10, description="rejected handshakes (reader answered, key check failed) before sc_failed"
    )
    lib_log_level: Literal["debug", "info", "warning", "error", "critical"] = "error"
    bus_fault_debounce_s: float = Field(
        2.0, ge=0, le=30, description="group reader losses into one bus_fault"
    )


class StrangerConfig(Strict):
    enabled: bool = True
    denied_threshold: int = Field(
        3, ge=1, le=100, description="unknown-credential denials that make a stranger"
    )
    window_s: float = Field(60.0, gt=0, le=3600)
    scope: Literal["door", "unit", "both"] = "both"
    visitor_outside_window: bool = Field(True, description="a visitor pass used outside its window warns")
    cooldown_s: float = Field(60.0, ge=0, description="after a warning, wait this long before the next one")


class DoorsConfig(Strict):
    credentials_db: Path | None = Field(
        None, description="SQLite file; default <state_dir>/credentials.sqlite"
    )
    osdp: OsdpConfig = Field(default_factory=OsdpConfig)
    stranger: StrangerConfig = Field(default_factory=StrangerConfig)
    buses: list[BusConfig] = Field(default_factory=list)
    controllers: list[ControllerConfig] = Field(default_factory=list)
    doors: list[DoorConfig] = Field(default_factory=list)

    @model_validator(mode="after")
    def _references(self) -> DoorsConfig:
        for label, ids in (
            ("doors", [d.id for d in self.doors]),
            ("buses", [b.id for b in self.buses]),
            ("controllers", [c.id for c in self.controllers]),
        ):
            dupes = sorted({i for i in ids if ids.count(i) > 1})
            if dupes:
                raise ValueError(f"{label}: duplicate id(s) {', '.join(dupes)}")
        buses = {b.id: b for b in self.buses}
        ctls = {c.id for c in self.controllers}
        per_bus: dict[str, set[int]] = {}
        taken: set[tuple[str, int]] = set()
        for d in self.doors:
            if d.reader is not None:
                if d.reader.bus not in buses:
                    raise ValueError(f"door {d.id}: unknown bus {d.reader.bus}")
                addrs = per_bus.setdefault(d.reader.bus, set())
                if d.reader.address in addrs:
                    raise ValueError(f"door {d.id}: address {d.reader.address} used twice on {d.reader.bus}")
                addrs.add(d.reader.address)
            if d.controller is not None:
                if d.controller.id not in ctls:
                    raise ValueError(f"door {d.id}: unknown controller {d.controller.id}")
                key = (d.controller.id, d.controller.door)
                if key in taken:
                    raise ValueError(f"door {d.id}: door {d.controller.door} of {d.controller.id} used twice")
                taken.add(key)
        for bus_id, addrs in per_bus.items():
            if len(addrs) > buses[bus_id].max_readers:
                raise ValueError(
                    f"bus {bus_id}: {len(addrs)} readers, more than max_readers={buses[bus_id].max_readers}"
                )
        return self

    def worker_groups(self) -> list[str]:
        """One `doors:<group>` worker per group, in config order (the supervisor's topology calls this)."""
        used_buses = {d.reader.bus for d in self.doors if d.reader is not None}
        used_ctls = {d.controller.id for d in self.doors if d.controller is not None}
        out: list[str] = []
        items: list[BusConfig | ControllerConfig] = [*self.buses, *self.controllers]
        for item in items:
            if item.id not in used_buses | used_ctls:
                continue
            g = item.worker_group()
            if g not in out:
                out.append(g)
        return out

    def buses_of(self, group: str) -> list[BusConfig]:
        return [b for b in self.buses if b.worker_group() == group]

    def controllers_of(self, group: str) -> list[ControllerConfig]:
        return [c for c in self.controllers if c.worker_group() == group]

    def doors_of(self, group: str) -> list[DoorConfig]:
        buses = {b.id for b in self.buses_of(group)}
        ctls = {c.id for c in self.controllers_of(group)}
        return [
            d
            for d in self.doors
            if (d.reader is not None and d.reader.bus in buses)
            or (d.controller is not None and d.controller.id in ctls)
        ]
