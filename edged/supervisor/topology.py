"""The composition root: every worker process of a site, in start order (design.md's table)."""

from __future__ import annotations

from dataclasses import dataclass

from edged.config import SiteConfig


@dataclass(frozen=True)
class WorkerSpec:
    name: str  # `kind` or `kind:id`; also the worker's metrics label and log context
    kind: str
    core: bool  # a core worker that stays down makes the daemon exit non-zero


def plan_workers(cfg: SiteConfig) -> list[WorkerSpec]:
    specs = [WorkerSpec(f"camera:{cam.id}", "camera", core=False) for cam in cfg.cameras]
    specs += [WorkerSpec(f"detector:{det.name}", "detector", core=False) for det in cfg.detectors]
    specs += [WorkerSpec(f"doors:{group}", "doors", core=True) for group in cfg.doors.worker_groups()]
    if cfg.gates.checkpoints:
        specs.append(WorkerSpec("gates", "gates", core=True))
    specs.append(WorkerSpec("rules", "rules", core=True))
    specs.append(WorkerSpec("uplink", "uplink", core=True))
    return specs
