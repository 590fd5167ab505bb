"""`edged synth falling OUT_DIR --suite NAME`: clips with ground truth for the falling-object analytic."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(p) for p in text.lower().split("x"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError("size must look like 1920x1080") from exc
    if not (160 <= w <= 4096 and 120 <= h <= 4096):
        raise argparse.ArgumentTypeError("size out of range")
    return w, h


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from edged.pipelines.falling.synth.suite import SUITES

    parser.add_argument("out", type=Path, help="output directory (clips, camera YAMLs, truth, suite.json)")
    parser.add_argument("--suite", choices=SUITES, default="mixed")
    parser.add_argument("--clips", type=int, default=12)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--size", type=_size, default=(1280, 720), help="WxH (default 1280x720)")


def run(args: argparse.Namespace) -> int:
    from edged.pipelines.falling.synth.suite import generate

    manifest = generate(args.out, args.suite, args.clips, args.seed, args.size)
    print(f"{len(manifest['clips'])} clips -> {args.out / 'suite.json'}", file=sys.stderr)
    return 0
