"""The detector worker: one process per `detectors` entry, serving every camera.

The onnxruntime session is created once here (after spawn) and lives as long as the worker.
A missing or broken model fails the start with a clear log line; the supervisor's restart
budget and backoff then keep the failure visible (edged_worker_failed) without a hot loop.
"""

from __future__ import annotations

from edged.config.detectors import AnyDetector
from edged.detection.detector import Detector
from edged.detection.server import DetectorServer
from edged.workers.runtime import WorkerContext


def detector_config(ctx: WorkerContext) -> AnyDetector:
    for cfg in ctx.config.detectors:
        if cfg.name == ctx.instance:
            return cfg
    raise LookupError(f"no detector named {ctx.instance!r} in the config")


def run(ctx: WorkerContext) -> None:
    cfg = detector_config(ctx)
    try:
        detector = Detector(cfg)
    except Exception as exc:
        ctx.log.error("detector failed to load", detector=cfg.name, error=str(exc))
        raise
    server = DetectorServer(detector, ctx.zmq, ctx.endpoints.detector(cfg.name))
    ctx.log.info("detector serving", endpoint=server.endpoint, **detector.describe())
    try:
        server.serve(ctx.stopping, ctx.beat)
    finally:
        server.close()
