"""`edged analyze falling VIDEO --camera CAMERA.yaml --events OUT.jsonl` (design.md)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from edged.config.camera import CameraConfig
from edged.config.loader import ConfigError, load_model


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("video", type=Path, help="video file (anything OpenCV/FFmpeg decodes)")
    parser.add_argument("--camera", type=Path, required=True, help="one camera section as YAML (with facade)")
    parser.add_argument("--events", type=Path, required=True, help="output: one JSON event per line")
    parser.add_argument(
        "--evidence-dir",
        type=Path,
        default=None,
        help="where clips and snapshots go (default: OUT's dir/evidence)",
    )
    parser.add_argument("--no-evidence", action="store_true", help="skip clips and snapshots")


def run(args: argparse.Namespace) -> int:
    from edged.pipelines.falling.offline import analyze_file

    try:
        camera = load_model(args.camera, CameraConfig)
    except ConfigError as exc:
        for line in exc.lines:
            print(line, file=sys.stderr)
        return 2
    if camera.facade is None:
        print(f"{args.camera}: facade: required for the falling-object analytic", file=sys.stderr)
        return 2
    evidence = None if args.no_evidence else (args.evidence_dir or args.events.parent / "evidence")
    try:
        result = analyze_file(args.video, camera, evidence)
    except FileNotFoundError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    args.events.parent.mkdir(parents=True, exist_ok=True)
    with args.events.open("w", encoding="utf-8") as fh:
        for ev in result.events:
            fh.write(json.dumps(ev, ensure_ascii=False) + "\n")
    alarms = sum(1 for e in result.events if e["data"]["severity"] == "alarm")
    print(
        f"{result.frames} frames, {alarms} alarm(s), "
        f"{len(result.events) - alarms} suspected -> {args.events}",
        file=sys.stderr,
    )
    return 0
