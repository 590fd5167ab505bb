"""Gates benchmark (JSON on stdout): Modbus round trip, open-to-relay latency, plate decisions.

Runs against pymodbus's own server on 127.0.0.1 (the barrier simulator), so the round trip is
the protocol stacks' cost on this box, not a network's. ``python -m edged.gates.bench``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import structlog
from pymodbus.client import ModbusTcpClient

from edged.config.gates import GatesConfig
from edged.gates.passes import PassStore
from edged.gates.service import GatesService
from edged.gates.sim import BarrierSimulator


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--requests", type=int, default=2000, help="Modbus reads and writes to time")
    parser.add_argument("--opens", type=int, default=50, help="open commands to time up to the relay")
    parser.add_argument("--passes", type=int, default=20000, help="passes in the store for decisions")


def _ms(samples: list[float]) -> dict[str, float]:
    s = sorted(samples)
    return {
        "p50_ms": round(statistics.median(s) * 1000, 3),
        "p99_ms": round(s[min(len(s) - 1, int(len(s) * 0.99))] * 1000, 3),
        "max_ms": round(s[-1] * 1000, 3),
        "n": len(s),
    }


def _config(port: int) -> GatesConfig:
    return GatesConfig.model_validate(
        {
            "devices": [
                {"name": "io", "host": "127.0.0.1", "port": port, "poll_interval_s": 0.05, "timeout_s": 2.0}
            ],
            "checkpoints": [
                {"id": f"cp-{u}", "io": {"device": "io", "unit": u, "close_coil": 1, "pulse_s": 0.05}}
                for u in range(1, 9)
            ],
        }
    )


def bench_roundtrip(sim: BarrierSimulator, n: int) -> dict[str, Any]:
    client = ModbusTcpClient("127.0.0.1", port=sim.port, timeout=1.0, retries=0)
    client.connect()
    reads, writes = [], []
    for i in range(n):
        t0 = time.perf_counter()
        client.read_discrete_inputs(0, count=2, device_id=1 + i % 8)
        reads.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        client.write_coil(2, bool(i % 2), device_id=1 + i % 8)
        writes.append(time.perf_counter() - t0)
    client.close()
    return {"read_inputs": _ms(reads), "write_coil": _ms(writes)}


def bench_open_to_relay(sim: BarrierSimulator, state_dir: Path, n: int) -> dict[str, Any]:
    cfg = _config(sim.port)
    service = GatesService(cfg, state_dir, lambda _e: None, lambda _t, _b: None)
    service.start()
    latencies = []
    try:
        deadline = time.monotonic() + 10
        while not all(c.online for c in service.checkpoints.values()) and time.monotonic() < deadline:
            service.step()
            time.sleep(0.01)
        io = cfg.checkpoints[0].io
        assert io is not None
        for _ in range(n):
            before = len(sim.writes)
            t0 = time.monotonic()
            service.open("cp-1", "command")
            while not any(w.value and w.address == io.open_coil for w in sim.writes[before:]):
                service.step()
                time.sleep(0.0005)
                if time.monotonic() - t0 > 5:
                    raise TimeoutError("relay never switched")
            on = next(w for w in sim.writes[before:] if w.value and w.address == io.open_coil)
            latencies.append(on.t - t0)
            time.sleep(0.1)  # let the pulse end (the barrier does not move: motion is off)
    finally:
        service.stop()
    return {"open_command_to_relay_on": _ms(latencies)}


def bench_decisions(state_dir: Path, n_passes: int) -> dict[str, Any]:
    store = PassStore(state_dir / "bench-passes.sqlite")
    for i in range(n_passes):
        store.add(f"渝A{i:05d}", "whitelist" if i % 3 else "visitor", valid_until=time.time() + 3600)
    samples = []
    for i in range(2000):
        t0 = time.perf_counter()
        store.decide(f"渝A{(i * 7919) % (n_passes * 2):05d}", "cp-1", consume=False)
        samples.append(time.perf_counter() - t0)
    store.close()
    return {"plate_decision": {**_ms(samples), "passes": n_passes}}


def run(args: argparse.Namespace) -> int:
    saved = structlog.get_config()
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))  # stdout: JSON only
    try:
        result = _run(args)
    finally:
        structlog.configure(**saved)
    print(json.dumps(result))
    return 0


def _run(args: argparse.Namespace) -> dict[str, Any]:
    points = _config(1).checkpoints
    result: dict[str, Any] = {"bench": "gates"}
    with tempfile.TemporaryDirectory(prefix="edged-bench-gates-") as tmp:
        with BarrierSimulator([c.io for c in points if c.io is not None], motion_s=None) as sim:
            result.update(bench_roundtrip(sim, args.requests))
            result.update(bench_open_to_relay(sim, Path(tmp), args.opens))
        result.update(bench_decisions(Path(tmp), args.passes))
    return result


if __name__ == "__main__":
    p = argparse.ArgumentParser(prog="edged bench gates", description=__doc__)
    add_arguments(p)
    sys.exit(run(p.parse_args()))
