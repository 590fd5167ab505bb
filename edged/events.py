"""The event schema of design.md: one place that builds and checks events.

Every event is a plain dict (it crosses msgpack sockets and JSON files unchanged):
``id`` (UUIDv7), ``type``, ``ts`` (UTC ISO 8601 with milliseconds), ``source``,
``priority`` (0 critical, 1 normal, 2 telemetry) and ``data``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from enum import IntEnum
from typing import Any

from edged.ids import new_id


class Priority(IntEnum):
    CRITICAL = 0
    NORMAL = 1
    TELEMETRY = 2


Event = dict[str, Any]

REQUIRED_FIELDS = ("id", "type", "ts", "source", "priority", "data")


def utc_iso(ts: float | None = None) -> str:
    """Wall-clock UTC in ISO 8601 with milliseconds and a ``Z`` suffix."""
    moment = dt.datetime.now(dt.UTC) if ts is None else dt.datetime.fromtimestamp(ts, dt.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_event(
    type: str,
    source: str,
    data: Mapping[str, Any] | None = None,
    priority: int = Priority.NORMAL,
    ts: float | None = None,
) -> Event:
    """Mint an event where it is born; its id is the dedup key end to end."""
    return {
        "id": new_id(),
        "type": type,
        "ts": utc_iso(ts),
        "source": source,
        "priority": int(priority),
        "data": dict(data or {}),
    }


class InvalidEvent(ValueError):
    pass


def validate_event(obj: Any) -> Event:
    """Check the shape of an event that arrived from outside; raise InvalidEvent if wrong."""
    if not isinstance(obj, dict):
        raise InvalidEvent(f"event must be a map, got {type(obj).__name__}")
    missing = [f for f in REQUIRED_FIELDS if f not in obj]
    if missing:
        raise InvalidEvent(f"event lacks {', '.join(missing)}")
    if not isinstance(obj["id"], str) or len(obj["id"]) != 36:
        raise InvalidEvent("event id must be a UUID string")
    if not isinstance(obj["type"], str) or not isinstance(obj["source"], str):
        raise InvalidEvent("event type and source must be strings")
    if obj["priority"] not in (0, 1, 2):
        raise InvalidEvent("event priority must be 0, 1 or 2")
    if not isinstance(obj["data"], dict):
        raise InvalidEvent("event data must be a map")
    return obj
