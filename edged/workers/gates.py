"""The gates worker (one per box): drives the checkpoints' barriers and serves their commands.

Commands on ``ctx.endpoints.commands("gates")``: ``open {checkpoint}``, ``hold_closed
{checkpoint, seconds}`` (what the rules worker sends on a fever at a checkpoint), ``release
{checkpoint}``, ``status``, and ``plate {checkpoint, plate}`` / ``pass_add`` / ``pass_remove``
for the whitelist and visitor decisions. A vehicle on a loop sends the newest frame of the
checkpoint's plate camera (from the camera worker's ring) to OCR on a thread of its own. The loop
turns every 50 ms at most, so relays, events and beats never wait longer than that on a quiet bus.
"""

from __future__ import annotations

from edged.bus.commands import CommandServer
from edged.gates.plate_feed import PlateFeed, RingFrames
from edged.gates.service import GatesService
from edged.pipelines.ring import ring_namespace
from edged.workers.runtime import WorkerContext

LOOP_S = 0.05


def run(ctx: WorkerContext) -> None:
    cfg = ctx.config.gates
    frames = RingFrames(ring_namespace(ctx.config.runtime.run_dir))  # the camera workers' rings
    plates = PlateFeed(cfg.checkpoints, frames, cfg.ocr_threads)
    service = GatesService(cfg, ctx.config.runtime.state_dir, ctx.emit, ctx.publish, plates=plates)
    server = CommandServer(
        ctx.zmq, ctx.endpoints.commands("gates"), service.handlers(), name="gates-commands"
    )
    service.start()
    try:
        while not ctx.stopping.is_set():
            commands = server.poll(int(LOOP_S * 1000))
            service.step()
            ctx.beat(commands=commands, samples=service.samples)
    finally:
        service.stop()
        server.close()
