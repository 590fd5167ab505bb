"""Per-interval aggregates of what the box saw, sent up as events of their own.

Every event that enters the outbox is also counted here. At the end of each interval two
events are produced: `summary` (P1: events by type and by source, alarms, people through doors
and gates, screening figures) and `availability` (P2: the fraction of the interval each camera
door reader and gate IO module was online, from the `*_offline` / `*_online` events and the
cameras' live `camera.state`). Critical events are not
folded into anything: they go up raw like every other event. Aggregates live in memory; an
uplink restart starts a fresh interval (the raw events are all in the outbox anyway).
"""

from __future__ import annotations

import time
from collections import Counter

from edged.config import SiteConfig
from edged.events import Event, Priority, new_event

SOURCE = "uplink"
PEOPLE_DOOR = frozenset({"access_granted"})
PEOPLE_GATE = frozenset({"gate_opened", "gate_passed", "pedestrian_passed"})
OFFLINE = {"camera_offline": "camera", "reader_offline": "reader", "gate_io_offline": "gate"}
ONLINE = {"camera_online": "camera", "reader_online": "reader", "gate_io_online": "gate"}
SCREENED = frozenset({"temperature_reading", "fever"})
MAX_SOURCES = 2000  # bounded even if producers invent sources


class Summaries:
    def __init__(self, cfg: SiteConfig, interval_s: float, now: float | None = None) -> None:
        self.interval_s = interval_s
        self.known: dict[str, set[str]] = {
            "camera": {c.id for c in cfg.cameras},
            "reader": {d.id for d in cfg.doors.doors},
            "gate": {c.id for c in cfg.gates.checkpoints},
        }
        self.offline_since: dict[tuple[str, str], float] = {}
        self._reset(now if now is not None else time.time())

    def _reset(self, now: float) -> None:
        self.start = now
        self.by_type: Counter[str] = Counter()
        self.by_source: Counter[str] = Counter()
        self.alarms: Counter[str] = Counter()
        self.people = {"doors": 0, "gates": 0}
        self.fever = 0
        self.screened = 0
        self.max_temp_c: float | None = None
        self.offline_s: dict[tuple[str, str], float] = {}

    def observe(self, events: list[Event], now: float | None = None) -> None:
        t = now if now is not None else time.time()
        for e in events:
            etype, source = e["type"], e["source"]
            if etype in ("summary", "availability") and source == SOURCE:
                continue
            self.by_type[etype] += 1
            if source in self.by_source or len(self.by_source) < MAX_SOURCES:
                self.by_source[source] += 1
            if e["priority"] == Priority.CRITICAL:
                self.alarms[etype] += 1
            if etype in PEOPLE_DOOR:
                self.people["doors"] += 1
            elif etype in PEOPLE_GATE:
                self.people["gates"] += 1
            elif etype == "screening":  # a thermal camera's window: people screened, hottest reading
                people = e["data"].get("people_screened")
                self.screened += people if isinstance(people, int) else 0
                self._hottest(e["data"].get("max_temp_c"))
            elif etype in SCREENED:
                self.fever += etype == "fever"
                self._hottest(e["data"].get("temp_c"))
            if etype in OFFLINE:
                self.state(OFFLINE[etype], source, False, t)
            elif etype in ONLINE:
                self.state(ONLINE[etype], source, True, t)

    def _hottest(self, temp: object) -> None:
        if isinstance(temp, int | float):
            self.max_temp_c = max(self.max_temp_c or temp, temp)

    def state(self, kind: str, source: str, online: bool, t: float) -> None:
        """A device went offline or came back (from events, or live state such as camera.state)."""
        key = (kind, source)
        if not online:
            self.offline_since.setdefault(key, t)
            return
        since = self.offline_since.pop(key, None)
        if since is not None:
            self.offline_s[key] = self.offline_s.get(key, 0.0) + t - max(since, self.start)

    def due(self, now: float) -> bool:
        return now - self.start >= self.interval_s

    def flush(self, now: float | None = None) -> list[Event]:
        """Close the interval: returns the `summary` and `availability` events."""
        end = now if now is not None else time.time()
        span = max(1e-9, end - self.start)
        window = {"start": self.start, "end": end, "interval_s": round(span, 3)}
        summary = new_event("summary", SOURCE, {
            **window,
            "events": sum(self.by_type.values()),
            "by_type": dict(self.by_type),
            "by_source": dict(self.by_source),
            "alarms": dict(self.alarms),
            "people": dict(self.people),
            "screening": {"screened": self.screened, "fever": self.fever, "max_temp_c": self.max_temp_c},
        }, Priority.NORMAL)  # fmt: skip
        offline = dict(self.offline_s)
        for key, since in self.offline_since.items():
            offline[key] = offline.get(key, 0.0) + end - max(since, self.start)
        avail: dict[str, dict[str, float]] = {}
        for kind, ids in self.known.items():
            seen = ids | {s for (k, s) in offline if k == kind}
            avail[kind + "s"] = {
                i: round(max(0.0, 1.0 - offline.get((kind, i), 0.0) / span), 4) for i in sorted(seen)
            }
        availability = new_event("availability", SOURCE, {**window, **avail}, Priority.TELEMETRY)
        self._reset(end)
        return [summary, availability]
