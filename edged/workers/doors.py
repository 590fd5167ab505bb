"""The doors worker: one per group of RS-485 buses / IP controllers (`doors:<group>`).

Runs the group's `DoorsEngine` from its own 1–2 ms loop (libosdp's built-in loop caps a panel
at ~50 exchanges/s; `DoorsEngine.wait` says why it does not wake per reply), and serves
commands (open_door, set_mode, lockdown, fire_alarm, status) between refreshes, so a command
never waits behind more than one refresh.
"""

from __future__ import annotations

import gc

from edged.access.commands import handlers
from edged.access.engine import DoorsEngine
from edged.bus.commands import CommandServer
from edged.workers.runtime import WorkerContext


def run(ctx: WorkerContext) -> None:
    group = ctx.instance
    if group not in ctx.config.doors.worker_groups():
        raise SystemExit(f"{ctx.name}: no buses or controllers with doors in group {group!r}")
    engine = DoorsEngine(ctx.config, group, ctx.emit)
    gc.freeze()  # start-up objects (config, panels, metrics) are never garbage: keep them out of GC passes
    server = CommandServer(ctx.zmq, ctx.endpoints.commands(ctx.name), handlers(engine), name=ctx.name)
    period = ctx.config.doors.osdp.refresh_interval_s
    ctx.log.info(
        "doors up",
        group=group,
        doors=len(engine.doors),
        buses=len(engine.buses),
        controllers=len(engine.controllers),
    )

    def between() -> None:
        server.handle_ready()
        ctx.beat(doors_online=engine.online_doors, doors=len(engine.doors))

    try:
        while not ctx.stopping.is_set():
            engine.run_pass(period, between)
    finally:
        server.close()
        engine.close()
