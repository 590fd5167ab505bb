"""The doors worker: one per group of RS-485 buses / IP controllers (`doors:<group>`).

Runs the group's `DoorsEngine` from its own 1–2 ms loop (libosdp's built-in loop caps a panel
at ~50 exchanges/s; `DoorsEngine.wait` says why it does not wake per reply), and serves
commands (open_door, set_mode, lockdown, fire_alarm, status) between refreshes, so a command
never waits behind more than one refresh.
"""

from __future__ import annotations

import gc
import time

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
    try:
        while not ctx.stopping.is_set():
            start = time.monotonic()
            engine.step(start)
            server.handle_ready()
            ctx.beat(doors_online=engine.online_doors, doors=len(engine.doors))
            left = period - (time.monotonic() - start)
            if left > 0:
                engine.wait(left)
    finally:
        server.close()
        engine.close()
