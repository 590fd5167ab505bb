"""`edged eval thermal SUITE`: score thermal screening on a suite of clips with truth (JSON)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("suite", type=Path, help="directory written by `edged synth thermal`")


def run(args: argparse.Namespace) -> int:
    from edged.pipelines.thermal.offline import logs_to_stderr

    with logs_to_stderr():
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    from edged.pipelines.thermal.evaluate import evaluate_suite

    try:
        scores = evaluate_suite(args.suite)
    except FileNotFoundError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    print(json.dumps(scores, indent=2))
    return 0
