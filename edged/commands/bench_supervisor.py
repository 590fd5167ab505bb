"""`edged bench supervisor --json`: how fast the daemon starts, heals and stops.

Runs the real daemon on a minimal site (rules and uplink workers) in a temp dir and
measures: start to READY, kill -9 of a worker to its replacement running (N times), a
stalled (SIGSTOP) worker to its replacement, and SIGTERM to exit.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import tempfile
import time
from pathlib import Path

from edged.config.site import SupervisorConfig
from edged.harness import Daemon


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--kills", type=int, default=10, help="kill -9 rounds (default 10)")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")


def run(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="edged-bench-sup-") as tmp:
        result = measure(Path(tmp), args.kills)
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:>24}: {value}")
    return 0


def measure(workdir: Path, kills: int) -> dict[str, float | int]:
    # A budget high enough that the kill rounds never mark the worker failed.
    site = {"supervisor": {"restart_budget": kills + 5}}
    t0 = time.monotonic()
    with Daemon(workdir, site) as daemon:
        daemon.wait_ready(timeout_s=120)
        ready_s = time.monotonic() - t0
        back: list[float] = []
        for _ in range(kills):
            old = daemon.wait_running("rules", timeout_s=30)
            start = time.monotonic()
            os.kill(old["pid"], signal.SIGKILL)
            daemon.wait_running("rules", timeout_s=30, not_pid=old["pid"])
            back.append(time.monotonic() - start)
            time.sleep(0.2)
        old = daemon.wait_running("rules", timeout_s=30)
        start = time.monotonic()
        os.kill(old["pid"], signal.SIGSTOP)
        daemon.wait_running("rules", timeout_s=60, not_pid=old["pid"])
        stalled_s = time.monotonic() - start
        exit_code, stop_s = daemon.terminate()
    return {
        "start_to_ready_s": round(ready_s, 3),
        "kill9_back_p50_s": round(statistics.median(back), 3),
        "kill9_back_max_s": round(max(back), 3),
        "kill9_rounds": len(back),
        "stalled_replaced_s": round(stalled_s, 3),
        "stall_timeout_s": SupervisorConfig().stall_timeout_s,
        "sigterm_exit_s": round(stop_s, 3),
        "exit_code": exit_code,
    }
