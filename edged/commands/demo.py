"""`edged demo`: run the simulated complex and print its events live (the README's main job)."""

from __future__ import annotations

import argparse
from pathlib import Path

from edged.demo.runner import run_demo


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--duration", type=float, default=60.0, help="seconds to run (default 60)")
    parser.add_argument("--events", type=Path, help="also write every event as a JSON line here")
    parser.add_argument("--workdir", type=Path, help="keep config, logs and state here (default: temp)")
    parser.add_argument("--metrics-port", type=int, default=9108)
    parser.add_argument("--no-chaos", action="store_true", help="do not kill a worker halfway")


def run(args: argparse.Namespace) -> int:
    return run_demo(args.duration, args.events, args.workdir, args.metrics_port, chaos=not args.no_chaos)
