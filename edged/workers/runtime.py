"""What every worker process gets after start: its zmq context, logger, metrics, bus handles.

Everything here is created inside the child (never inherited), as design.md requires.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog
import zmq

from edged import metrics
from edged.bus.endpoints import Endpoints
from edged.bus.heartbeat import HeartbeatSender
from edged.bus.reliable import EventSender
from edged.bus.telemetry import TelemetryPublisher
from edged.config import SiteConfig
from edged.events import Event

# Every event goes to both: the outbox (durable, to the central server) and the rules worker.
EVENT_SINKS = ("uplink", "rules")


@dataclass
class WorkerContext:
    name: str
    kind: str
    config: SiteConfig
    config_path: Path | None  # the file it was loaded from (the uplink's config push rewrites it)
    zmq: zmq.Context[zmq.Socket[bytes]]
    endpoints: Endpoints
    log: Any
    stopping: threading.Event = field(default_factory=threading.Event)
    _heartbeat: HeartbeatSender | None = None
    _senders: dict[str, EventSender] = field(default_factory=dict)
    _telemetry: TelemetryPublisher | None = None

    @classmethod
    def create(
        cls,
        name: str,
        config: SiteConfig,
        config_path: Path | None = None,
        sinks: tuple[str, ...] = EVENT_SINKS,
    ) -> WorkerContext:
        kind = name.split(":", 1)[0]
        endpoints = Endpoints(config.runtime.run_dir)
        zctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
        ctx = cls(
            name=name,
            kind=kind,
            config=config,
            config_path=config_path,
            zmq=zctx,
            endpoints=endpoints,
            log=structlog.get_logger(f"edged.{kind}"),
        )
        ctx._heartbeat = HeartbeatSender(
            zctx, endpoints.heartbeat, name, config.supervisor.heartbeat_interval_s / 2
        )
        # A worker does not send events to itself (the uplink worker raises outbox alarms directly).
        ctx._senders = {s: EventSender(zctx, endpoints.events(s), s, name) for s in sinks if s != kind}
        ctx._telemetry = TelemetryPublisher(zctx, endpoints.telemetry_in, name)
        return ctx

    @property
    def instance(self) -> str:
        """What this worker serves: its name after `kind:` (camera id, detector name, door group)."""
        return self.name.partition(":")[2]

    def beat(self, **progress: Any) -> None:
        """Report progress from the main loop; call at least every heartbeat interval."""
        if self._heartbeat is not None:
            self._heartbeat.beat(**progress)

    def emit(self, event: Event) -> None:
        """Hand an event to the reliable channel (outbox and rules) and show it live."""
        metrics.EVENTS_EMITTED.labels(worker=self.name, type=event["type"]).inc()
        for sender in self._senders.values():
            sender.send(event)
        self.publish("event", event)
        self.log.info(
            "event",
            event_id=event["id"],
            type=event["type"],
            source=event["source"],
            priority=event["priority"],
        )

    def publish(self, topic: str, body: Any) -> None:
        if self._telemetry is not None:
            self._telemetry.publish(topic, body)

    def install_signal_handlers(self) -> None:
        def _stop(signum: int, _frame: object) -> None:
            self.log.info("stopping", signal=signal.Signals(signum).name)
            self.stopping.set()

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)

    def close(self, flush_timeout_s: float = 5.0) -> None:
        """Flush unacked events (one deadline for all sinks), then release every socket."""
        deadline = time.monotonic() + flush_timeout_s
        for sender in self._senders.values():
            if not sender.flush(max(0.0, deadline - time.monotonic())):
                self.log.warning("events left unacked at stop", sink=sender.sink, pending=sender.pending)
            sender.close()
        if self._telemetry is not None:
            self._telemetry.close()
        if self._heartbeat is not None:
            self._heartbeat.close()
        self.zmq.term()


def pid() -> int:
    return os.getpid()
