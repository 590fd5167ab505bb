"""The uplink worker: every event from every worker → durable outbox → central server.

Events arrive on the reliable bus channel (`EventReceiver`); the handler returns only after
the outbox commit, and only then does the receiver ack them, so an event is never acked to
its producer before it is on disk. A failed commit (disk full) raises: nothing is acked, the
producers keep the events and resend, and the failure is counted.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from edged.bus.commands import CommandClient
from edged.bus.reliable import EventReceiver
from edged.bus.telemetry import TelemetrySubscriber
from edged.uplink.service import UplinkService
from edged.workers.runtime import WorkerContext


def run(ctx: WorkerContext) -> None:
    local = threading.local()

    def client(endpoint: str) -> CommandClient:
        clients: dict[str, CommandClient] = local.__dict__.setdefault("clients", {})
        if endpoint not in clients:
            clients[endpoint] = CommandClient(ctx.zmq, endpoint)
        return clients[endpoint]

    def door_call(worker: str, command: str, args: dict[str, Any], timeout_s: float) -> Any:
        return client(ctx.endpoints.commands(worker)).call(command, args, timeout_s)

    def reload() -> Any:
        return client(ctx.endpoints.control).call("reload", {}, 30.0)

    service = UplinkService(
        ctx.config, ctx.zmq, config_path=ctx.config_path, door_call=door_call, reload=reload
    )
    receiver = EventReceiver(ctx.zmq, ctx.endpoints.events("uplink"), "uplink", service.ingest)
    if service.corrupt_alarm is not None:  # already in the outbox; this shows it to rules and live
        ctx.emit(service.corrupt_alarm)
    states = TelemetrySubscriber(ctx.zmq, ctx.endpoints.telemetry_out, ["camera.state"])
    service.start()
    ctx.log.info("uplink started", server=ctx.config.uplink.server, outbox=str(service.outbox.path))
    try:
        while not ctx.stopping.is_set():
            receiver.poll(100)
            while (got := states.recv(0)) is not None:  # camera availability for the summaries
                body = got[1]
                if isinstance(body, dict) and isinstance(body.get("camera"), str):
                    online = body.get("state") == "connected"
                    service.summaries.state("camera", body["camera"], online, time.time())
            service.tick()
            ctx.beat(**service.progress())
    finally:
        states.close()
        receiver.close()
        service.stop()
