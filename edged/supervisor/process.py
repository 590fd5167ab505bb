"""One supervised worker: its OS process, heartbeat state and restart policy."""

from __future__ import annotations

import contextlib
import os
import signal
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from edged.supervisor.forkserver import ForkServer
from edged.supervisor.restart_policy import RestartPolicy
from edged.supervisor.topology import WorkerSpec


class State(StrEnum):
    STARTING = "starting"  # spawned, no heartbeat yet
    RUNNING = "running"
    BACKOFF = "backoff"  # exited, waiting to restart
    FAILED = "failed"  # budget spent: retried with backoff, alarmed
    STOPPING = "stopping"
    STOPPED = "stopped"


@dataclass
class WorkerProcess:
    spec: WorkerSpec
    policy: RestartPolicy
    config_path: Path  # the validated snapshot the worker loads
    source_path: Path  # the operator's file (the uplink's config push rewrites it)
    spawner: ForkServer
    state: State = State.STOPPED
    pid: int | None = None
    kill_reason: str = ""
    started_at: float = 0.0
    last_heartbeat: float = 0.0
    restart_at: float = 0.0
    restarts: int = 0
    last_exit: str = ""
    progress: dict[str, Any] = field(default_factory=dict)

    def spawn(self, now: float) -> None:
        self.pid = self.spawner.spawn(
            self.spec.name, str(self.config_path), str(self.source_path), nice=self.spec.nice
        )
        self.state = State.STARTING
        self.started_at = now
        self.last_heartbeat = 0.0
        self.kill_reason = ""
        self.progress = {}

    def poll_exit(self) -> int | None:
        """The exit code once the fork server has reported this process's end."""
        return self.spawner.exit_codes.get(self.pid) if self.pid is not None else None

    def signal(self, sig: signal.Signals) -> None:
        if self.pid is not None and self.poll_exit() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)

    def heartbeat_age(self, now: float) -> float:
        return now - (self.last_heartbeat or self.started_at)

    def describe(self, now: float) -> dict[str, Any]:
        return {
            "worker": self.spec.name,
            "kind": self.spec.kind,
            "state": str(self.state),
            "pid": self.pid if self.state in (State.STARTING, State.RUNNING, State.STOPPING) else None,
            "restarts": self.restarts,
            "heartbeat_age_s": round(self.heartbeat_age(now), 3) if self.pid else None,
            "uptime_s": round(now - self.started_at, 1) if self.state == State.RUNNING else 0.0,
            "last_exit": self.last_exit,
            "progress": self.progress,
        }


def exit_reason(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with code {code}"
