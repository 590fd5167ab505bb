"""`edged synth thermal --out DIR`: thermal clips with ground truth (our generator)."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from edged.pipelines.thermal.synth import EXTRA_KINDS, KINDS

    parser.add_argument(
        "--out", type=Path, required=True, help="suite directory (NAME.npz/.yaml/.truth.json)"
    )
    parser.add_argument("--clips", type=int, default=10)
    parser.add_argument("--kind", choices=[*KINDS, *EXTRA_KINDS, "mixed"], default="mixed")
    parser.add_argument("--duration", type=float, default=16.0, help="seconds per clip")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--camera",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="camera model override, e.g. width=160 height=120 fps=9 hfov_deg=57 netd_c=0.05",
    )


def run(args: argparse.Namespace) -> int:
    from edged.pipelines.thermal.synth import write_suite

    overrides = dict(item.split("=", 1) for item in args.camera)
    paths = write_suite(args.out, args.clips, args.kind, args.seed, args.duration, overrides)
    for p in paths:
        print(p)
    return 0
