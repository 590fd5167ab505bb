"""A door rig with real libosdp on both ends: the engine's ControlPanel on the slave end of a
pty, libosdp PeripheralDevices on the master end (edged.drivers.osdp_sim), SQLite on disk."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edged.access.credentials import CredentialStore
from edged.access.engine import DoorsEngine
from edged.config.site import SiteConfig
from edged.drivers.osdp_sim import Simulator
from edged.events import Event, validate_event

SITE_KEY = bytes(range(16))


def site_dict(tmp: Path, readers: int = 3, **door_overrides: Any) -> dict[str, Any]:
    keys = tmp / "osdp-keys.json"
    keys.write_text(json.dumps({"default": SITE_KEY.hex()}))
    doors = [
        {
            "id": f"b1-u1-d{a}",
            "building": "b1",
            "unit": "u1",
            "reader": {"bus": "bus-1", "address": a},
            **door_overrides,
        }
        for a in range(1, readers + 1)
    ]
    return {
        "site": {"id": "test"},
        "runtime": {"run_dir": str(tmp / "run"), "state_dir": str(tmp / "state")},
        "doors": {
            "credentials_db": str(tmp / "credentials.sqlite"),
            "osdp": {"keys_file": str(keys), "offline_cycle_s": 5, "bus_fault_debounce_s": 1.0},
            "buses": [{"id": "bus-1", "group": "g1", "port": str(tmp / "bus-1.tty")}],
            "doors": doors,
        },
    }


class Rig:
    def __init__(
        self,
        tmp: Path,
        readers: int = 3,
        keys: dict[int, bytes | None] | None = None,
        install: set[int] | None = None,
        **door_overrides: Any,
    ) -> None:
        self.tmp = tmp
        self.t0 = time.monotonic()
        self.cfg = SiteConfig.model_validate(site_dict(tmp, readers, **door_overrides))
        self.store = CredentialStore(tmp / "credentials.sqlite")
        self.sim = Simulator()
        self.bus = self.sim.add_bus("bus-1", "pty", tmp / "bus-1.tty")
        for a in range(1, readers + 1):
            key = (keys or {}).get(a, SITE_KEY)
            self.bus.add_reader(a, key, install_mode=a in (install or set()))
        self.sim.start()
        self.events: list[Event] = []
        self.engine = DoorsEngine(self.cfg, "g1", self._emit)
        self.pass_work_s = 0.0

    def _emit(self, event: Event) -> None:
        validate_event(event)
        self.events.append(event)

    def reader(self, address: int) -> Any:
        return self.sim.reader("bus-1", address)

    def run(self, seconds: float) -> None:
        self.run_until(lambda: False, seconds)

    def run_until(self, pred: Callable[[], bool], timeout: float) -> bool:
        """The doors worker's own loop (`DoorsEngine.run_pass`); `pass_work_s` stands for what
        else a pass does (commands, a loaded box) and may make every pass overrun its period."""
        period = self.cfg.doors.osdp.refresh_interval_s
        met = False

        def between() -> None:
            nonlocal met
            met = pred()
            if self.pass_work_s:
                time.sleep(self.pass_work_s)

        end = time.monotonic() + timeout
        while time.monotonic() < end:
            self.engine.run_pass(period, between)
            if met:
                return True
        return False

    def of_type(self, type_: str, source: str | None = None) -> list[Event]:
        return [e for e in self.events if e["type"] == type_ and (source is None or e["source"] == source)]

    def wait_event(self, type_: str, timeout: float = 5.0, source: str | None = None) -> Event:
        assert self.run_until(lambda: bool(self.of_type(type_, source)), timeout), (
            f"no {type_} within {timeout} s"
        )
        return self.of_type(type_, source)[0]

    def wait_online(self, timeout: float = 10.0) -> None:
        assert self.run_until(self.engine.all_online, timeout), "readers did not come online"

    def close(self) -> None:
        self.engine.close()
        self.sim.stop()
        self.store.close()
