"""What `edged analyze falling` and `edged analyze thermal` share: design.md's arguments,
the one-camera-section file, and OUT.jsonl with one event per line."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from pathlib import Path

from edged.config.camera import CameraConfig
from edged.config.loader import ConfigError, load_model
from edged.events import Event


def add_common_arguments(parser: argparse.ArgumentParser, section: str, evidence: str) -> None:
    parser.add_argument(
        "--camera", type=Path, required=True, help=f"one camera section as YAML (with {section})"
    )
    parser.add_argument("--events", type=Path, required=True, help="output: one JSON event per line")
    parser.add_argument(
        "--evidence-dir", type=Path, default=None, help=f"{evidence} (default: OUT's dir/evidence)"
    )
    parser.add_argument("--no-evidence", action="store_true", help=f"skip the {evidence}")


def load_camera(args: argparse.Namespace, section: str, purpose: str) -> CameraConfig | None:
    """The camera section, or None after printing why it cannot be used (exit 2)."""
    try:
        camera = load_model(args.camera, CameraConfig)
    except ConfigError as exc:
        for line in exc.lines:
            print(line, file=sys.stderr)
        return None
    if getattr(camera, section) is None:
        print(f"{args.camera}: {section}: required for {purpose}", file=sys.stderr)
        return None
    return camera


def evidence_dir(args: argparse.Namespace) -> Path | None:
    if args.no_evidence:
        return None
    return Path(args.evidence_dir or args.events.parent / "evidence")


def write_events(path: Path, events: Iterable[Event]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for event in events:
            fh.write(json.dumps(event, ensure_ascii=False) + "\n")
