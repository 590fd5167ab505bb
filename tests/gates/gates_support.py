"""Helpers for the gates tests: a GatesService driven against pymodbus's real TCP server."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edged.config.gates import CheckpointIOConfig, GatesConfig
from edged.events import Event, validate_event
from edged.gates.plate_feed import PlateFeed
from edged.gates.service import GatesService


def gates_config(port: int, n: int = 2, **device: Any) -> GatesConfig:
    return GatesConfig.model_validate(gates_section(port, n, **device))


def gates_section(port: int, n: int = 2, **device: Any) -> dict[str, Any]:
    """n checkpoints on one Modbus device: checkpoint i on unit i+1, coils 0/1, inputs 0/1."""
    return {
        "devices": [
            {
                "name": "io-1",
                "host": "127.0.0.1",
                "port": port,
                "poll_interval_s": 0.03,
                "timeout_s": 0.3,
                "reconnect_min_s": 0.1,
                "reconnect_max_s": 0.4,
                **device,
            }
        ],
        "checkpoints": [
            {
                "id": f"cp-{i + 1}",
                "close_delay_s": 0.3,
                "open_timeout_s": 5.0,
                "motion_s": 1.0,
                "io": {
                    "device": "io-1",
                    "unit": i + 1,
                    "open_coil": 0,
                    "close_coil": 1,
                    "loop_input": 0,
                    "closed_input": 1,
                    "pulse_s": 0.1,
                },
            }
            for i in range(n)
        ],
    }


def io_points(cfg: GatesConfig) -> list[CheckpointIOConfig]:
    return [c.io for c in cfg.checkpoints if c.io is not None]


class Harness:
    """Steps the service on the test's thread, as the worker loop would, collecting events."""

    def __init__(self, cfg: GatesConfig, state_dir: Path, plates: PlateFeed | None = None) -> None:
        self.events: list[Event] = []
        self.published: list[Any] = []
        self.service = GatesService(
            cfg, state_dir, self._emit, lambda _t, body: self.published.append(body), plates=plates
        )

    def _emit(self, event: Event) -> None:
        self.events.append(validate_event(event))

    def __enter__(self) -> Harness:
        self.service.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.service.stop()

    def until(self, predicate: Callable[[], Any], timeout_s: float = 5.0) -> Any:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.service.step()
            value = predicate()
            if value:
                return value
            time.sleep(0.01)
        raise TimeoutError(f"not met within {timeout_s} s; events: {[e['type'] for e in self.events]}")

    def of(self, etype: str, source: str | None = None) -> list[Event]:
        return [e for e in self.events if e["type"] == etype and (source is None or e["source"] == source)]

    def online(self, checkpoint: str) -> bool:
        return self.service.checkpoints[checkpoint].online


def wait_until(predicate: Callable[[], Any], timeout_s: float = 5.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.01)
    raise TimeoutError(f"not met within {timeout_s} s")


def metric(name: str, **labels: str) -> float:
    from prometheus_client import REGISTRY

    value = REGISTRY.get_sample_value(name, labels)
    return 0.0 if value is None else value
