"""The composition root: every worker process of a site, in start order (design.md's table)."""

from __future__ import annotations

from dataclasses import dataclass

from edged.config import SiteConfig

# Bulk video work yields the CPU to the time-critical workers (a card at a door, a gate, a
# rule): on a 2-core box the doors' decision tail is time spent waiting for a core.
BULK_NICE = 5


@dataclass(frozen=True)
class WorkerSpec:
    name: str  # `kind` or `kind:id`; also the worker's metrics label and log context
    kind: str
    core: bool  # a core worker that stays down makes the daemon exit non-zero
    nice: int = 0  # added to the supervisor's niceness


def plan_workers(cfg: SiteConfig) -> list[WorkerSpec]:
    specs = [WorkerSpec(f"camera:{cam.id}", "camera", core=False, nice=BULK_NICE) for cam in cfg.cameras]
    specs += [WorkerSpec(f"detector:{d.name}", "detector", core=False, nice=BULK_NICE) for d in cfg.detectors]
    specs += [WorkerSpec(f"doors:{group}", "doors", core=True) for group in cfg.doors.worker_groups()]
    if cfg.gates.checkpoints:
        specs.append(WorkerSpec("gates", "gates", core=True))
    specs.append(WorkerSpec("rules", "rules", core=True))
    specs.append(WorkerSpec("uplink", "uplink", core=True))
    return specs
