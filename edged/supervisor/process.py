"""One supervised worker: its OS process, heartbeat state and restart policy."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

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
    config_path: Path
    env: dict[str, str]
    state: State = State.STOPPED
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    last_heartbeat: float = 0.0
    restart_at: float = 0.0
    restarts: int = 0
    last_exit: str = ""
    progress: dict[str, Any] = field(default_factory=dict)

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def spawn(self, now: float) -> None:
        cmd = [sys.executable, "-m", "edged.workers", self.spec.name, "--config", str(self.config_path)]
        self.proc = subprocess.Popen(cmd, env=self.env, stdin=subprocess.DEVNULL, close_fds=True)
        self.state = State.STARTING
        self.started_at = now
        self.last_heartbeat = 0.0
        self.progress = {}

    def poll_exit(self) -> int | None:
        return self.proc.poll() if self.proc is not None else None

    def signal(self, sig: signal.Signals) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, sig)

    def heartbeat_age(self, now: float) -> float:
        return now - (self.last_heartbeat or self.started_at)

    def describe(self, now: float) -> dict[str, Any]:
        return {
            "worker": self.spec.name,
            "kind": self.spec.kind,
            "state": str(self.state),
            "pid": self.pid if self.state in (State.STARTING, State.RUNNING, State.STOPPING) else None,
            "restarts": self.restarts,
            "heartbeat_age_s": round(self.heartbeat_age(now), 3) if self.proc else None,
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


def wall() -> float:
    return time.time()
