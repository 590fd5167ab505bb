"""`edged eval falling SUITE`: recall, false alarms per hour, floor and window accuracy, latency."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("suite", type=Path, help="directory written by `edged synth falling`")
    parser.add_argument("--json", action="store_true", help="print the full JSON report")
    parser.add_argument("--report", type=Path, help="also write the full JSON report here")
    parser.add_argument("-q", "--quiet", action="store_true", help="no per-clip lines")


def run(args: argparse.Namespace) -> int:
    import cv2

    from edged.pipelines.falling.evaluate import evaluate

    cv2.setNumThreads(1)
    report = evaluate(args.suite, progress=not (args.quiet or args.json))
    if args.report:
        args.report.write_text(json.dumps(report, indent=1), encoding="utf-8")
    if args.json:
        print(json.dumps(report))
        return 0
    s = report["summary"]
    for cat, r in s["recall"].items():
        print(f"recall {cat:12s} {r['hit']:4d}/{r['of']:<4d} {r['rate']}")
    for key in ("hours", "false_alarms", "false_alarms_per_hour", "false_suspected", "suspected_per_hour",
                "floor_exact", "floor_within_1", "floor_range_contains", "window_accuracy", "latency_s",
                "frame_ms_mean"):  # fmt: skip
        print(f"{key:22s} {s[key]}")
    return 0
