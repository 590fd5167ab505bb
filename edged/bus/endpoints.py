"""Every ipc endpoint of a box, under ``<run_dir>/bus`` (mode 0700: only edged's user connects)."""

from __future__ import annotations

import os
from pathlib import Path

# Linux limits a unix socket path to 107 bytes; check early with a clear message.
_MAX_IPC_PATH = 107


class Endpoints:
    def __init__(self, run_dir: Path) -> None:
        self.run_dir = Path(run_dir)
        self.bus_dir = self.run_dir / "bus"

    def prepare(self) -> None:
        """Create the socket directory with mode 0700 (the supervisor does this at start)."""
        self.bus_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.run_dir, 0o700)
        os.chmod(self.bus_dir, 0o700)

    def _ipc(self, name: str) -> str:
        path = self.bus_dir / f"{name}.sock"
        if len(str(path)) > _MAX_IPC_PATH:
            raise ValueError(f"ipc path too long for a unix socket ({len(str(path))} > 107): {path}")
        return f"ipc://{path}"

    @property
    def control(self) -> str:
        return self._ipc("control")

    @property
    def heartbeat(self) -> str:
        return self._ipc("heartbeat")

    @property
    def telemetry_in(self) -> str:
        return self._ipc("telemetry-in")

    @property
    def telemetry_out(self) -> str:
        return self._ipc("telemetry-out")

    def events(self, sink: str) -> str:
        """Reliable event channel bound by `sink` (``uplink`` or ``rules``)."""
        return self._ipc(f"events-{sink}")

    def detector(self, name: str) -> str:
        return self._ipc(f"detector-{_safe(name)}")

    def commands(self, worker: str) -> str:
        """Command socket of a worker (e.g. ``doors:bus-1``)."""
        return self._ipc(f"cmd-{_safe(worker)}")


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
