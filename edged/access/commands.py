"""Command handlers of a doors worker (served by the bus's CommandServer).

Each returns a result map or raises (the server turns that into an error result); the caller
gets a `CommandTimeout` if the worker does not answer at all.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from edged.access.door import Output
from edged.access.engine import DoorsEngine

MODES = ("normal", "always_open", "locked_down")


def _door(engine: DoorsEngine, args: dict[str, Any]) -> str:
    door_id = str(args.get("door", ""))
    if door_id not in engine.doors:
        raise ValueError(f"unknown door {door_id!r} (this worker serves {engine.group})")
    return door_id


def open_door(engine: DoorsEngine, args: dict[str, Any]) -> dict[str, Any]:
    door_id = _door(engine, args)
    door = engine.doors[door_id]
    seconds = float(args.get("seconds", door.cfg.unlock_s))
    if not 0 < seconds <= 300:
        raise ValueError("seconds must be in (0, 300]")
    if not engine.door_online(door_id):
        raise RuntimeError(f"door {door_id}: reader offline")
    door.unlocked_until = time.monotonic() + seconds
    if not engine.drive(door.cfg, Output("pulse", seconds)):
        raise RuntimeError(f"door {door_id}: the unlock command was not accepted")
    engine.emit("door_opened_remotely", door_id, {"seconds": seconds, "by": str(args.get("by", "command"))})
    return {"door": door_id, "unlocked_s": seconds}


def set_mode(engine: DoorsEngine, args: dict[str, Any]) -> dict[str, Any]:
    door_id = _door(engine, args)
    mode = args.get("mode")
    if mode not in (*MODES, "auto"):
        raise ValueError(f"mode must be one of {', '.join(MODES)} or auto")
    door = engine.doors[door_id]
    engine._apply(door, door.set_override(None if mode == "auto" else str(mode), time.monotonic()))
    return {"door": door_id, "mode": door.mode}


def lockdown(engine: DoorsEngine, args: dict[str, Any]) -> dict[str, Any]:
    """Lock down (or release, `active: false`) every door of a building served here."""
    building = str(args.get("building", ""))
    active = bool(args.get("active", True))
    doors = [d for d in engine.doors.values() if d.cfg.building == building]
    for door in doors:
        engine._apply(door, door.set_override("locked_down" if active else None, time.monotonic()))
    return {"building": building, "active": active, "doors": len(doors)}


def fire_alarm(engine: DoorsEngine, args: dict[str, Any]) -> dict[str, Any]:
    """Evacuation doors of a building (or all, without `building`) open while the alarm lasts."""
    building = args.get("building")
    active = bool(args.get("active", True))
    doors = [d for d in engine.doors.values() if d.cfg.evacuation and building in (None, d.cfg.building)]
    for door in doors:
        engine._apply(door, door.set_fire(active, time.monotonic()))
    return {"building": building, "active": active, "doors": len(doors)}


def status(engine: DoorsEngine, args: dict[str, Any]) -> dict[str, Any]:
    return {
        "group": engine.group,
        "credentials_version": engine.store.version,
        "doors": {d: {**s.snapshot(), "online": engine.door_online(d)} for d, s in engine.doors.items()},
    }


Handler = Callable[[DoorsEngine, dict[str, Any]], dict[str, Any]]
COMMANDS: dict[str, Handler] = {
    "open_door": open_door,
    "set_mode": set_mode,
    "lockdown": lockdown,
    "fire_alarm": fire_alarm,
    "status": status,
}


def handlers(engine: DoorsEngine) -> dict[str, Callable[[dict[str, Any]], Any]]:
    def bind(fn: Handler) -> Callable[[dict[str, Any]], Any]:
        return lambda args: fn(engine, args)

    return {name: bind(fn) for name, fn in COMMANDS.items()}
