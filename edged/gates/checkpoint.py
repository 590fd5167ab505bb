"""One checkpoint's barrier as a state machine on the monotonic clock (no I/O here).

Inputs are loop / limit samples, open requests, holds and clock ticks; outputs are effects: relay
pulses for the IO link and events for the bus. Safety rule: the machine never asks the barrier
to close while a vehicle is on the loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal

from edged.config.gates import CheckpointConfig
from edged.events import Priority


class Phase(StrEnum):
    UNKNOWN = "unknown"  # no sample yet (start, or IO just came back)
    CLOSED = "closed"
    OPENING = "opening"  # open pulsed, limit switch not yet left
    OPEN = "open"
    CLOSING = "closing"


@dataclass(frozen=True)
class Pulse:
    which: Literal["open", "close"]


@dataclass(frozen=True)
class Emit:
    type: str
    data: dict[str, Any]
    priority: int = Priority.NORMAL


Effect = Pulse | Emit


class Refused(Exception):
    """An open that the checkpoint will not do now; `why` is a metric label."""

    def __init__(self, why: str, message: str) -> None:
        super().__init__(message)
        self.why = why


@dataclass
class Checkpoint:
    cfg: CheckpointConfig
    phase: Phase = Phase.UNKNOWN
    online: bool | None = None  # None: IO not heard from yet
    loop: bool = False
    closed: bool | None = None
    hold_until: float | None = None
    hold_reason: str = ""
    open_reason: str = ""
    opened_at: float = 0.0
    pulsed_open_at: float = -float("inf")
    closing_at: float = 0.0
    vehicle_seen: bool = False
    clear_since: float | None = None
    close_fault_reported: bool = False

    @property
    def id(self) -> str:
        return self.cfg.id

    @property
    def has_limit(self) -> bool:
        return self.cfg.io is not None and self.cfg.io.closed_input is not None

    def held(self, now: float) -> bool:
        return self.hold_until is not None and now < self.hold_until

    # -- requests ------------------------------------------------------------------------------

    def open(self, reason: str, now: float, detail: dict[str, Any] | None = None) -> list[Effect]:
        """Open for one passage; raises Refused when held, offline or without IO."""
        if self.cfg.io is None:
            raise Refused("no_io", f"checkpoint {self.id} has no barrier IO configured")
        if self.held(now):
            assert self.hold_until is not None
            raise Refused(
                "held",
                f"checkpoint {self.id} is held closed for {self.hold_until - now:.0f} s more"
                f" ({self.hold_reason or 'no reason given'})",
            )
        if not self.online:
            raise Refused("offline", f"checkpoint {self.id}: barrier IO is offline")
        self.open_reason, self.opened_at, self.pulsed_open_at = reason, now, now
        self.vehicle_seen, self.clear_since, self.close_fault_reported = self.loop, None, False
        if self.phase in (Phase.CLOSED, Phase.CLOSING, Phase.UNKNOWN):
            self.phase = Phase.OPENING if self.has_limit and self.closed else Phase.OPEN
        data = {"checkpoint": self.id, "reason": reason, **(detail or {})}
        return [Pulse("open"), Emit("gate_opened", data)]

    def hold(self, seconds: float, now: float, reason: str = "") -> list[Effect]:
        """Refuse opens for `seconds` (capped by hold_max_s); an open barrier closes once clear."""
        if not seconds > 0:
            raise ValueError("seconds must be > 0")
        seconds = min(float(seconds), self.cfg.hold_max_s)
        self.hold_until = max(self.hold_until or now, now + seconds)
        self.hold_reason = reason
        data = {
            "checkpoint": self.id,
            "seconds": seconds,
            "reason": reason,
            "barrier": self.phase.value,
            "vehicle_on_loop": self.loop,
        }
        return [Emit("gate_held", data), *self.tick(now)]

    def release(self, now: float, how: str = "command") -> list[Effect]:
        if self.hold_until is None:
            return []
        self.hold_until, self.hold_reason = None, ""
        return [Emit("gate_released", {"checkpoint": self.id, "how": how})]

    # -- IO ------------------------------------------------------------------------------------

    def set_online(self, online: bool, now: float, device: str, reason: str) -> list[Effect]:
        if online == self.online:
            return []
        first, self.online = self.online is None, online
        if not online:
            self.phase = Phase.UNKNOWN  # re-synced from the next sample: no false "forced" on return
            return [Emit("gate_io_offline", {"checkpoint": self.id, "device": device, "reason": reason})]
        if first:
            return []  # a normal start is quiet; a device that never answers is not
        return [Emit("gate_io_online", {"checkpoint": self.id, "device": device})]

    def sample(self, loop: bool, closed: bool | None, now: float) -> list[Effect]:
        effects: list[Effect] = []
        if loop and not self.loop:
            self.vehicle_seen, self.clear_since = True, None
        elif self.loop and not loop:
            self.clear_since = now
        self.loop = loop
        was_closed, self.closed = self.closed, closed
        if self.phase is Phase.UNKNOWN:
            self._sync(closed, now)
        elif closed is not None and was_closed is not None and closed != was_closed:
            effects += self._limit_changed(closed, now)
        return effects + self.tick(now)

    def _sync(self, closed: bool | None, now: float) -> None:
        if closed is None or closed:
            self.phase = Phase.CLOSED
        else:  # found open (restart, IO back): treat as an open of unknown cause, close when clear
            self.phase, self.open_reason, self.opened_at = Phase.OPEN, "unknown", now
            self.vehicle_seen, self.clear_since = self.loop, None if self.loop else now

    def _limit_changed(self, closed: bool, now: float) -> list[Effect]:
        if closed:
            previous, self.phase = self.phase, Phase.CLOSED
            if previous is Phase.CLOSED:
                return []
            return [
                Emit(
                    "gate_closed",
                    {
                        "checkpoint": self.id,
                        "open_s": round(now - self.opened_at, 3),
                        "reason": self.open_reason,
                    },
                    Priority.TELEMETRY,
                )
            ]
        if self.phase in (Phase.OPENING, Phase.OPEN):
            self.phase = Phase.OPEN
            return []
        if self.phase is Phase.CLOSING:  # the barrier reversed (its own safety loop): open again
            self.phase = Phase.OPEN
            return []
        commanded = now - self.pulsed_open_at <= self.cfg.motion_s
        self.phase, self.opened_at = Phase.OPEN, now
        self.vehicle_seen, self.clear_since = self.loop, None if self.loop else now
        if commanded:
            return []
        self.open_reason = "forced"
        return [
            Emit(
                "gate_forced",
                {"checkpoint": self.id, "held": self.held(now), "vehicle_on_loop": self.loop},
                Priority.CRITICAL,
            )
        ]

    # -- clock ---------------------------------------------------------------------------------

    def tick(self, now: float) -> list[Effect]:
        effects: list[Effect] = []
        if self.hold_until is not None and now >= self.hold_until:
            effects += self.release(now, how="expired")
        if self.phase is Phase.OPENING and now - self.pulsed_open_at > self.cfg.motion_s:
            # The limit switch never left "closed": the barrier did not move.
            self.phase = Phase.CLOSED
            effects.append(Emit("gate_fault", {"checkpoint": self.id, "fault": "did_not_open"}))
        elif self.phase is Phase.OPEN and self._should_close(now):
            effects += self._close(now)
        elif self.phase is Phase.CLOSING and now - self.closing_at > self.cfg.motion_s:
            if not self.has_limit:
                self.phase = Phase.CLOSED  # nothing to confirm it: trust the barrier's travel time
                effects.append(
                    Emit(
                        "gate_closed",
                        {
                            "checkpoint": self.id,
                            "reason": self.open_reason,
                            "open_s": round(now - self.opened_at, 3),
                        },
                        Priority.TELEMETRY,
                    )
                )
            elif not self.loop:
                if not self.close_fault_reported:
                    self.close_fault_reported = True
                    effects.append(Emit("gate_fault", {"checkpoint": self.id, "fault": "did_not_close"}))
                effects += self._close(now)  # try again, every motion_s
        return effects

    def _should_close(self, now: float) -> bool:
        if self.loop:
            return False
        clear_for = now - self.clear_since if self.clear_since is not None else 0.0
        if self.held(now):
            return True
        if self.vehicle_seen:
            return self.clear_since is not None and clear_for >= self.cfg.close_delay_s
        return now - self.opened_at >= self.cfg.open_timeout_s

    def _close(self, now: float) -> list[Effect]:
        self.phase, self.closing_at = Phase.CLOSING, now
        wired = self.cfg.io is not None and self.cfg.io.close_coil is not None
        return [Pulse("close")] if wired else []

    def snapshot(self, now: float) -> dict[str, Any]:
        return {
            "checkpoint": self.id,
            "kind": self.cfg.kind,
            "io": self.cfg.io is not None,
            "online": bool(self.online),
            "phase": self.phase.value,
            "vehicle_on_loop": self.loop,
            "barrier_closed": self.closed,
            "held": self.held(now),
            "held_for_s": round(self.hold_until - now, 1) if self.hold_until and self.held(now) else 0.0,
            "hold_reason": self.hold_reason,
            "last_open_reason": self.open_reason,
        }
