"""`edged analyze thermal FRAMES.npz --camera CAMERA.yaml --events OUT.jsonl` (design.md)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from edged.config.camera import CameraConfig
from edged.config.loader import ConfigError, load_model


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("frames", type=Path, help="thermal clip (.npz: frames, ts, gain, offset[, ffc])")
    parser.add_argument(
        "--camera", type=Path, required=True, help="one camera section as YAML (with thermal)"
    )
    parser.add_argument("--events", type=Path, required=True, help="output: one JSON event per line")
    parser.add_argument("--evidence-dir", type=Path, default=None, help="crops (default: OUT's dir/evidence)")
    parser.add_argument("--no-evidence", action="store_true", help="skip the crops")
    parser.add_argument("--readings", type=Path, default=None, help="also write every decision (JSON lines)")


def run(args: argparse.Namespace) -> int:
    from edged.pipelines.thermal.offline import logs_to_stderr

    with logs_to_stderr():
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    from edged.pipelines.thermal.offline import analyze_file, reading_row
    from edged.pipelines.thermal.sources import SourceError

    try:
        camera = load_model(args.camera, CameraConfig)
    except ConfigError as exc:
        for line in exc.lines:
            print(line, file=sys.stderr)
        return 2
    if camera.thermal is None:
        print(f"{args.camera}: thermal: required for thermal screening", file=sys.stderr)
        return 2
    evidence = None if args.no_evidence else (args.evidence_dir or args.events.parent / "evidence")
    try:
        result = analyze_file(args.frames, camera, evidence)
    except SourceError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    args.events.parent.mkdir(parents=True, exist_ok=True)
    with args.events.open("w", encoding="utf-8") as fh:
        for ev in result.events:
            fh.write(json.dumps(ev, ensure_ascii=False) + "\n")
    if args.readings is not None:
        with args.readings.open("w", encoding="utf-8") as fh:
            for r in result.readings:
                fh.write(json.dumps(reading_row(r)) + "\n")
    print(json.dumps(result.summary), file=sys.stderr)
    return 0
