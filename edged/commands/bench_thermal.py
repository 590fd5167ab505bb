"""`edged bench thermal --json`: faces per second per core and decision latency (issue 5 targets:
≥ 30 faces/s per core, decision ≤ 1 s after the first valid face frame)."""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--seconds", type=float, default=12.0, help="length of each synthetic clip")
    parser.add_argument("--detector", choices=["auto", "centerface", "hot_region"], default=None)
    parser.add_argument("--all-cores", action="store_true", help="do not pin to one CPU")


def run(args: argparse.Namespace) -> int:
    from edged.pipelines.thermal.offline import logs_to_stderr

    with logs_to_stderr():
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    import cv2

    from edged.pipelines.thermal.bench import bench, make_clips

    if not args.all_cores and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[-1]})
        cv2.setNumThreads(1)
    with tempfile.TemporaryDirectory(prefix="edged-bench-thermal-") as tmp:
        result = bench(make_clips(Path(tmp), args.seconds), args.detector)
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:24} {value}")
    return 0
