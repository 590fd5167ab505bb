"""`edged analyze thermal FRAMES.npz --camera CAMERA.yaml --events OUT.jsonl` (design.md)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from edged.commands.analyze_common import add_common_arguments, evidence_dir, load_camera, write_events


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("frames", type=Path, help="thermal clip (.npz: frames, ts, gain, offset[, ffc])")
    add_common_arguments(parser, "thermal", "crops")
    parser.add_argument("--readings", type=Path, default=None, help="also write every decision (JSON lines)")


def run(args: argparse.Namespace) -> int:
    from edged.pipelines.thermal.offline import logs_to_stderr

    with logs_to_stderr():
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    from edged.pipelines.thermal.offline import analyze_file, reading_row
    from edged.pipelines.thermal.sources import SourceError

    camera = load_camera(args, "thermal", "thermal screening")
    if camera is None:
        return 2
    try:
        result = analyze_file(args.frames, camera, evidence_dir(args))
    except SourceError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    write_events(args.events, result.events)
    if args.readings is not None:
        with args.readings.open("w", encoding="utf-8") as fh:
            for r in result.readings:
                fh.write(json.dumps(reading_row(r)) + "\n")
    print(json.dumps(result.summary), file=sys.stderr)
    return 0
