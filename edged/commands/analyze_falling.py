"""`edged analyze falling VIDEO --camera CAMERA.yaml --events OUT.jsonl` (design.md)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from edged.commands.analyze_common import add_common_arguments, evidence_dir, load_camera, write_events


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("video", type=Path, help="video file (anything OpenCV/FFmpeg decodes)")
    add_common_arguments(parser, "facade", "clips and snapshots")


def run(args: argparse.Namespace) -> int:
    from edged.pipelines.falling.offline import analyze_file

    camera = load_camera(args, "facade", "the falling-object analytic")
    if camera is None:
        return 2
    try:
        result = analyze_file(args.video, camera, evidence_dir(args))
    except FileNotFoundError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    write_events(args.events, result.events)
    alarms = sum(1 for e in result.events if e["data"]["severity"] == "alarm")
    print(
        f"{result.frames} frames, {alarms} alarm(s), "
        f"{len(result.events) - alarms} suspected -> {args.events}",
        file=sys.stderr,
    )
    return 0
