"""Stranger warnings: repeated unknown credentials at a door or across a unit's doors,
or a visitor pass used outside its window. Sliding windows on the monotonic clock."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from edged.access.decisions import UNKNOWN, VISITOR_OUTSIDE_WINDOW
from edged.config.doors import StrangerConfig


@dataclass(frozen=True)
class StrangerAlert:
    rule: str  # unknown_at_door | unknown_at_unit | visitor_outside_window
    scope_key: str
    denials: int


class StrangerRules:
    def __init__(self, cfg: StrangerConfig) -> None:
        self.cfg = cfg
        self._hits: dict[str, deque[float]] = {}
        self._quiet_until: dict[str, float] = {}

    def denied(self, door: str, unit_key: str | None, reason: str, now: float) -> list[StrangerAlert]:
        """Feed one denial; returns the warnings it completes (usually none)."""
        if not self.cfg.enabled:
            return []
        out: list[StrangerAlert] = []
        if reason == VISITOR_OUTSIDE_WINDOW and self.cfg.visitor_outside_window:
            out.append(StrangerAlert("visitor_outside_window", door, 1))
        if reason != UNKNOWN:
            return out
        keys = []
        if self.cfg.scope in ("door", "both"):
            keys.append(("unknown_at_door", f"door:{door}"))
        if self.cfg.scope in ("unit", "both") and unit_key:
            keys.append(("unknown_at_unit", f"unit:{unit_key}"))
        fired_door = False
        for rule, key in keys:
            hits = self._hits.setdefault(key, deque())
            hits.append(now)
            while hits and now - hits[0] > self.cfg.window_s:
                hits.popleft()
            if len(hits) >= self.cfg.denied_threshold and now >= self._quiet_until.get(key, 0.0):
                if rule == "unknown_at_unit" and fired_door:
                    hits.clear()  # the door rule already warned for the same denials
                    continue
                out.append(StrangerAlert(rule, key.split(":", 1)[1], len(hits)))
                fired_door = fired_door or rule == "unknown_at_door"
                hits.clear()
                self._quiet_until[key] = now + self.cfg.cooldown_s
        return out
