"""The gates worker's logic without the bus: checkpoints, IO links, passes, commands.

Everything here runs on the worker's main thread (commands and the loop alike), so the state
machines need no locks; only the IO links run threads, and they talk through a queue.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import structlog

from edged.config.gates import GatesConfig
from edged.drivers.modbus_io import InputSample, IoReport, LinkStatus, ModbusIoLink
from edged.events import Event, new_event
from edged.gates.checkpoint import Checkpoint, Effect, Emit, Pulse, Refused
from edged.gates.metrics import CHECKPOINTS_HELD, CHECKPOINTS_ONLINE, DECISIONS, OPENINGS, REFUSED
from edged.gates.passes import PassStore
from edged.gates.plate_feed import PlateFeed, PlateResult

_log = structlog.get_logger("edged.gates")

Handler = Callable[[dict[str, Any]], Any]


class GatesService:
    def __init__(
        self,
        cfg: GatesConfig,
        state_dir: Path,
        emit: Callable[[Event], None],
        publish: Callable[[str, Any], None],
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        plates: PlateFeed | None = None,
    ) -> None:
        self.cfg = cfg
        self._emit, self._publish, self._clock, self._wall = emit, publish, clock, wall
        self.checkpoints = {c.id: Checkpoint(c) for c in cfg.checkpoints}
        self.passes = PassStore(Path(state_dir) / cfg.passes_db)
        self.plates = plates
        self._reports: queue.Queue[IoReport] = queue.Queue(maxsize=10_000)
        self.links: dict[str, ModbusIoLink] = {}
        self._link_of: dict[str, ModbusIoLink] = {}
        for device in cfg.devices:
            points = [
                (c.id, c.io) for c in cfg.checkpoints if c.io is not None and c.io.device == device.name
            ]
            if not points:
                continue
            link = ModbusIoLink(device, points, self._reports, clock)
            self.links[device.name] = link
            self._link_of.update({cp: link for cp, _ in points})
        self._last_publish = -float("inf")
        self._dirty = True
        self.samples = 0

    def start(self) -> None:
        for link in self.links.values():
            link.start()
        if self.plates is not None:
            self.plates.start()
        _log.info(
            "gates started",
            checkpoints=len(self.checkpoints),
            devices=len(self.links),
            passes=self.passes.count(),
        )

    def stop(self) -> None:
        for link in self.links.values():
            link.stop()
        if self.plates is not None:
            self.plates.stop()
        self.passes.close()

    # -- the loop ------------------------------------------------------------------------------

    def step(self, max_reports: int = 1000) -> None:
        """Apply the IO reports that arrived, tick every checkpoint, publish live state."""
        for _ in range(max_reports):
            try:
                report = self._reports.get_nowait()
            except queue.Empty:
                break
            self._on_report(report)
        now = self._clock()
        if self.plates is not None:
            for read in self.plates.poll(now):
                self._on_plate_read(read)
        for cp in self.checkpoints.values():
            self._apply(cp, cp.tick(now))
        self._update_gauges(now)
        if self._dirty or now - self._last_publish >= 1.0:
            self._publish("gates", self.state(now))
            self._last_publish, self._dirty = now, False

    def _on_report(self, report: IoReport) -> None:
        cp = self.checkpoints[report.checkpoint]
        if isinstance(report, LinkStatus):
            self._apply(cp, cp.set_online(report.online, report.t, report.device, report.reason))
        elif isinstance(report, InputSample):
            self.samples += 1
            before = (cp.loop, cp.closed, cp.phase)
            self._apply(cp, cp.sample(report.loop, report.closed, report.t))
            self._dirty |= before != (cp.loop, cp.closed, cp.phase)
            if self.plates is not None and cp.loop != before[0]:
                if cp.loop:
                    self.plates.arrived(cp.id, self._clock())
                else:
                    self.plates.left(cp.id)

    def _on_plate_read(self, res: PlateResult) -> None:
        """A plate camera read a valid plate: record it, then decide as for any other plate."""
        read = res.read
        assert read.plate is not None
        if not self.checkpoints[res.checkpoint].loop:
            return  # the vehicle left while its plate was read: nobody to open for
        data = {
            "checkpoint": res.checkpoint,
            "camera": res.camera,
            "plate": read.plate,
            "confidence": round(read.confidence, 3),
            "box": list(read.box) if read.box else None,
            "text": read.text,
        }
        self._emit(new_event("plate_read", res.checkpoint, data))
        self.on_plate(res.checkpoint, read.plate, source="camera")

    def _apply(self, cp: Checkpoint, effects: list[Effect]) -> None:
        for effect in effects:
            self._dirty = True
            if isinstance(effect, Pulse):
                link = self._link_of.get(cp.id)
                if link is not None:
                    link.pulse(cp.id, effect.which)
            elif isinstance(effect, Emit):
                if effect.type == "gate_opened":
                    OPENINGS.labels(checkpoint=cp.id, reason=effect.data["reason"]).inc()
                elif effect.type == "gate_forced":
                    OPENINGS.labels(checkpoint=cp.id, reason="forced").inc()
                self._emit(new_event(effect.type, cp.id, effect.data, effect.priority))

    def _update_gauges(self, now: float) -> None:
        CHECKPOINTS_ONLINE.set(sum(1 for c in self.checkpoints.values() if c.online))
        CHECKPOINTS_HELD.set(sum(1 for c in self.checkpoints.values() if c.held(now)))

    def state(self, now: float | None = None) -> dict[str, Any]:
        t = self._clock() if now is None else now
        return {"checkpoints": [c.snapshot(t) for c in self.checkpoints.values()]}

    # -- what commands and the plate reader call ---------------------------------------------

    def open(self, checkpoint: str, reason: str, detail: Mapping[str, Any] | None = None) -> dict[str, Any]:
        cp = self._checkpoint(checkpoint)
        now = self._clock()
        try:
            effects = cp.open(reason, now, dict(detail or {}))
        except Refused as exc:
            REFUSED.labels(checkpoint=cp.id, why=exc.why).inc()
            raise
        self._apply(cp, effects)
        return cp.snapshot(now)

    def on_plate(self, checkpoint: str, plate: str, source: str = "command") -> dict[str, Any]:
        """Decide on a plate read at a checkpoint and open when it is allowed and possible."""
        cp = self._checkpoint(checkpoint)
        decision = self.passes.decide(plate, cp.id, self._wall())
        DECISIONS.labels(result=decision.result).inc()
        result: dict[str, Any] = {"checkpoint": cp.id, **decision.as_dict(), "opened": False}
        if decision.allowed:
            detail = {"plate": decision.plate, "pass_id": decision.pass_id, "plate_source": source}
            try:
                self.open(cp.id, decision.result, detail)
                result["opened"] = True
                return result
            except Refused as exc:
                result["refused"] = exc.why
                why = exc.why
        else:
            REFUSED.labels(checkpoint=cp.id, why="denied").inc()
            why = decision.result
        self._emit(
            new_event(
                "gate_denied",
                cp.id,
                {"checkpoint": cp.id, "plate": decision.plate, "why": why, "plate_source": source},
            )
        )
        return result

    def _checkpoint(self, checkpoint: Any) -> Checkpoint:
        if not isinstance(checkpoint, str) or checkpoint not in self.checkpoints:
            raise ValueError(f"unknown checkpoint {checkpoint!r}; known: {', '.join(self.checkpoints)}")
        return self.checkpoints[checkpoint]

    # -- command handlers (errors raised here become error results) ----------------------------

    def handlers(self) -> dict[str, Handler]:
        return {
            "open": self._cmd_open,
            "hold_closed": self._cmd_hold,
            "release": self._cmd_release,
            "status": self._cmd_status,
            "plate": self._cmd_plate,
            "pass_add": self._cmd_pass_add,
            "pass_remove": self._cmd_pass_remove,
        }

    def _cmd_open(self, args: dict[str, Any]) -> dict[str, Any]:
        detail = {"by": str(args["by"])[:64]} if "by" in args else {}
        return self.open(self._checkpoint(args.get("checkpoint")).id, "command", detail)

    def _cmd_hold(self, args: dict[str, Any]) -> dict[str, Any]:
        cp = self._checkpoint(args.get("checkpoint"))
        seconds = args.get("seconds")
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not seconds > 0:
            raise ValueError("seconds must be a number > 0")
        now = self._clock()
        self._apply(cp, cp.hold(float(seconds), now, str(args.get("reason", ""))[:120]))
        return cp.snapshot(now)

    def _cmd_release(self, args: dict[str, Any]) -> dict[str, Any]:
        cp = self._checkpoint(args.get("checkpoint"))
        now = self._clock()
        self._apply(cp, cp.release(now, "command"))
        return cp.snapshot(now)

    def _cmd_status(self, _args: dict[str, Any]) -> dict[str, Any]:
        return {
            **self.state(),
            "passes": self.passes.count(),
            "devices": {
                name: {
                    "connects": link.connects,
                    "samples_dropped": link.samples_dropped,
                    "pulses_dropped": link.pulses_dropped,
                }
                for name, link in self.links.items()
            },
        }

    def _cmd_plate(self, args: dict[str, Any]) -> dict[str, Any]:
        plate = args.get("plate")
        if not isinstance(plate, str):
            raise ValueError("plate must be a string")
        return self.on_plate(
            self._checkpoint(args.get("checkpoint")).id, plate, str(args.get("source", "command"))[:64]
        )

    def _cmd_pass_add(self, args: dict[str, Any]) -> dict[str, Any]:
        cps = args.get("checkpoints") or []
        if isinstance(cps, str):
            cps = [cps]
        for c in cps:
            self._checkpoint(c)
        p = self.passes.add(
            str(args.get("plate", "")),
            args.get("kind", "visitor"),
            checkpoints=list(cps),
            valid_from=_opt_float(args, "valid_from"),
            valid_until=_opt_float(args, "valid_until"),
            uses=_opt_int(args, "uses"),
            note=str(args.get("note", ""))[:200],
        )
        return p.as_dict()

    def _cmd_pass_remove(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"removed": self.passes.remove(str(args.get("plate", "")))}


def _opt_float(args: Mapping[str, Any], key: str) -> float | None:
    value = args.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{key} must be a number (unix seconds)")
    return float(value)


def _opt_int(args: Mapping[str, Any], key: str) -> int | None:
    value = args.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{key} must be an integer")
    return value
