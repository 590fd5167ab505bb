"""One door's state machine: inputs (grant, contact, exit button, tamper, mode) → actions.

Pure logic with no I/O, so it is tested without a bus. Timers use the monotonic clock the
caller passes in (`now`); only schedules read the wall clock (`wall`), in the site's zone.
Actions are `Emit` (an event for the reliable channel) and `Output` (drive the lock:
``pulse`` = timed unlock the reader ends by itself, ``on`` = held open, ``off`` = locked and
any timed unlock cancelled).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Literal

from edged.config.doors import WEEKDAYS, DoorConfig
from edged.events import Priority


@dataclass(frozen=True)
class Emit:
    type: str
    data: dict[str, Any] = field(default_factory=dict)
    priority: int = Priority.NORMAL


@dataclass(frozen=True)
class Output:
    action: Literal["pulse", "on", "off"]
    seconds: float = 0.0


Action = Emit | Output


def schedule_mode(cfg: DoorConfig, wall: dt.datetime) -> str | None:
    """The mode the door's weekly schedule asks for at local time `wall`, if any."""
    minute = wall.hour * 60 + wall.minute
    today = WEEKDAYS[wall.weekday()]
    yesterday = WEEKDAYS[(wall.weekday() - 1) % 7]
    for entry in cfg.schedule:
        start, end = entry.minutes()
        if start <= end:
            if today in entry.days and start <= minute < end:
                return entry.mode
        elif (today in entry.days and minute >= start) or (yesterday in entry.days and minute < end):
            return entry.mode
    return None


class DoorState:
    """State of one door; every method returns the actions it causes."""

    def __init__(self, cfg: DoorConfig) -> None:
        self.cfg = cfg
        self.contact_open: bool | None = None
        self.unlocked_until = 0.0
        self.open_since: float | None = None
        self.open_authorized = False
        self.held_stage = 0  # 0 none, 1 pre-alarm raised, 2 alarm raised
        self.tamper = False
        self.override: str | None = None  # commanded mode; None: schedule / config
        self.fire = False
        self._schedule: str | None = None
        self.mode = self._effective()

    # --- mode -----------------------------------------------------------------------------
    def _effective(self) -> str:
        if self.fire and self.cfg.evacuation:
            return "always_open"
        return self.override or self._schedule or self.cfg.mode

    def _apply_mode(self, now: float, why: str) -> list[Action]:
        new = self._effective()
        if new == self.mode:
            return []
        old, self.mode = self.mode, new
        out: list[Action] = [Emit("door_mode", {"mode": new, "previous": old, "reason": why})]
        if new == "always_open":
            out.append(Output("on"))
        else:
            self.unlocked_until = 0.0
            out.append(Output("off"))
        if new != "always_open" and self.contact_open:  # an open door is now expected closed
            self.open_since, self.open_authorized = now, True
        return out

    def initial_outputs(self) -> list[Action]:
        """What to send when the reader (re)connects: the lock state the mode asks for."""
        return [Output("on")] if self.mode == "always_open" else []

    def set_override(self, mode: str | None, now: float) -> list[Action]:
        self.override = mode
        return self._apply_mode(now, "command")

    def set_fire(self, active: bool, now: float) -> list[Action]:
        self.fire = active
        return self._apply_mode(now, "fire_alarm")

    def wall_tick(self, now: float, wall: dt.datetime) -> list[Action]:
        self._schedule = schedule_mode(self.cfg, wall) if self.cfg.schedule else None
        return self._apply_mode(now, "schedule")

    # --- inputs ---------------------------------------------------------------------------
    def grant(self, now: float, extended: bool = False) -> list[Action]:
        if self.mode == "always_open":
            return []
        seconds = self.cfg.extended_unlock_s if extended else self.cfg.unlock_s
        self.unlocked_until = now + seconds
        return [Output("pulse", seconds)]

    def rex(self, pressed: bool, now: float) -> list[Action]:
        """Exit button: egress is always allowed (life safety), even when locked down."""
        if not pressed or self.mode == "always_open":
            return []
        self.unlocked_until = now + self.cfg.unlock_s
        return [Output("pulse", self.cfg.unlock_s)]

    def contact(self, is_open: bool, now: float) -> list[Action]:
        if self.contact_open is None:  # first report after (re)connect: learn, do not alarm
            self.contact_open = is_open
            if is_open:
                self.open_since, self.open_authorized = now, True
            return []
        if is_open == self.contact_open:
            return []
        self.contact_open = is_open
        if is_open:
            self.open_since = now
            if self.mode == "always_open" or now < self.unlocked_until:
                self.open_authorized = True
                return []
            self.open_authorized = False
            return [Emit("door_forced", {"mode": self.mode}, Priority.CRITICAL)]
        return self._closed(now)

    def _closed(self, now: float) -> list[Action]:
        out: list[Action] = []
        if self.held_stage and self.open_since is not None:
            out.append(
                Emit("door_held_open", {"stage": "cleared", "open_s": round(now - self.open_since, 1)})
            )
        self.open_since, self.open_authorized, self.held_stage = None, False, 0
        if self.cfg.relock_on_close and self.mode != "always_open" and now < self.unlocked_until:
            self.unlocked_until = 0.0
            out.append(Output("off"))
        return out

    def set_tamper(self, active: bool) -> list[Action]:
        if active == self.tamper:
            return []
        self.tamper = active
        state = "active" if active else "cleared"
        return [Emit("tamper", {"state": state}, Priority.CRITICAL if active else Priority.NORMAL)]

    def tick(self, now: float) -> list[Action]:
        """Held-open timers; call often (the engine: every 10 ms)."""
        if not self.contact_open or self.open_since is None or self.mode == "always_open":
            return []
        if not self.open_authorized:
            return []  # a forced door already alarmed
        open_s = now - self.open_since
        if self.held_stage < 1 and open_s >= self.cfg.held_open_prealarm_s:
            self.held_stage = 1
            return [Emit("door_held_open", {"stage": "pre_alarm", "open_s": round(open_s, 1)})]
        if self.held_stage < 2 and open_s >= self.cfg.held_open_s:
            self.held_stage = 2
            return [Emit("door_held_open", {"stage": "alarm", "open_s": round(open_s, 1)}, Priority.CRITICAL)]
        return []

    def forget_inputs(self) -> None:
        """The reader went offline: its next report is a fresh start, not a change."""
        self.contact_open = None

    def snapshot(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "open": self.contact_open,
            "tamper": self.tamper,
            "held_stage": self.held_stage,
            "fail_mode": self.cfg.fail_mode,
        }
