"""Run the real daemon (`edged run`) as a child and talk to it like an operator would.

Used by the tests, `edged bench supervisor` and anyone scripting a box: the daemon is the
real one, started on a site dict written to a work dir, asked over its control socket.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
import zmq

from edged.bus.commands import CommandClient, CommandError, CommandTimeout
from edged.bus.endpoints import Endpoints


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(predicate: Callable[[], Any], timeout_s: float, interval_s: float = 0.02) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval_s)
    raise TimeoutError(f"condition not met within {timeout_s} s")


class Daemon:
    """`edged run` on a site dict; use as a context manager."""

    def __init__(
        self, workdir: Path, site: dict[str, Any] | None = None, env: dict[str, str] | None = None
    ) -> None:
        self.workdir = workdir
        # Short run dir: unix socket paths are limited to 107 bytes.
        self.run_dir = (
            Path(os.environ.get("EDGED_TEST_RUN_ROOT", "/tmp")) / f"ed-{os.getpid()}-{id(self) % 10**6}"
        )
        self.port = free_port()
        self.site: dict[str, Any] = {
            "site": {"id": "test-site"},
            "runtime": {"run_dir": str(self.run_dir), "state_dir": str(workdir / "state")},
            "metrics": {"listen": f"127.0.0.1:{self.port}"},
            "logging": {"format": "json"},
        }
        for key, value in (site or {}).items():
            self.site[key] = value
        self.config_path = workdir / "site.yaml"
        self.config_path.write_text(yaml.safe_dump(self.site))
        self.log_path = workdir / "edged.log"
        self.env = dict(os.environ, **(env or {}))
        self.proc: subprocess.Popen[bytes] | None = None
        self._zmq: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
        self._control: CommandClient | None = None

    def __enter__(self) -> Daemon:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "edged", "run", "-c", str(self.config_path)],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=self.env,
        )
        self._control = CommandClient(self._zmq, Endpoints(self.run_dir).control)

    def status(self, timeout_s: float = 1.0) -> dict[str, Any] | None:
        assert self._control is not None
        try:
            result: dict[str, Any] = self._control.call("status", timeout_s=timeout_s)
            return result
        except (CommandTimeout, CommandError):
            return None

    def worker(self, name: str) -> dict[str, Any] | None:
        status = self.status()
        if status is None:
            return None
        return next((w for w in status["workers"] if w["worker"] == name), None)

    def wait_ready(self, timeout_s: float = 60.0) -> dict[str, Any]:
        return wait_for(lambda: (s := self.status()) is not None and s["ready"] and s, timeout_s, 0.1)

    def wait_running(self, name: str, timeout_s: float, not_pid: int | None = None) -> dict[str, Any]:
        def check() -> dict[str, Any] | None:
            w = self.worker(name)
            if w and w["state"] == "running" and w["pid"] and w["pid"] != not_pid:
                return w
            return None

        return wait_for(check, timeout_s, 0.02)

    def terminate(self, timeout_s: float = 30.0) -> tuple[int, float]:
        """SIGTERM the daemon; return (exit code, seconds it took to exit)."""
        assert self.proc is not None
        t0 = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=timeout_s)
        return code, time.monotonic() - t0

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self._control is not None:
            self._control.close()
        self._zmq.term()
        self._log.close()
        # Workers are children of the daemon; make sure none outlives a failed test.
        subprocess.run(["pkill", "-9", "-f", "--", f"--config {self.config_path}"], check=False)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")
