"""`edged detect IMAGE…`: run the configured (or default) detector on image files, print JSON.

One JSON object per image and line: ``{"image", "width", "height", "detections": [{cls,
label, score, box}], "infer_s"}``; an unreadable image gets ``{"image", "error"}`` and the
exit status becomes 1.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("images", nargs="+", metavar="IMAGE")
    parser.add_argument(
        "-c", "--config", help="site config: use its detector (default: the shipped COCO model)"
    )
    parser.add_argument("--detector", help="name of the detector in the config (default: the first)")
    parser.add_argument("--model", help="ONNX model path (overrides the config)")
    parser.add_argument("--type", choices=["yolov3_tiny", "yolov8"], help="model family (with --model)")
    parser.add_argument("--input-size", type=int, help="network input size (multiple of 32)")
    parser.add_argument("--score", type=float, help="score threshold")
    parser.add_argument("--classes", help="comma-separated labels to keep, e.g. person,car")


def _detector_config(args: argparse.Namespace) -> Any:
    from pydantic import TypeAdapter

    from edged.config import load_site_config
    from edged.config.detectors import DetectorConfig

    base: dict[str, Any] = {"type": "yolov3_tiny"}
    if args.config:
        detectors = load_site_config(args.config).detectors
        chosen = [d for d in detectors if args.detector in (None, d.name)]
        if args.detector and not chosen:
            raise LookupError(f"no detector named {args.detector!r} in {args.config}")
        if chosen:
            base = chosen[0].model_dump()
    overrides = {
        "type": args.type,
        "model": args.model,
        "input_size": args.input_size,
        "score_threshold": args.score,
        "classes": args.classes.split(",") if args.classes else None,
    }
    base |= {k: v for k, v in overrides.items() if v is not None}
    if base["type"] == "yolov8":
        base.setdefault("name", "cli")
    return TypeAdapter(DetectorConfig).validate_python(base)


def _quiet_logs() -> None:
    """stdout carries the JSON; log lines (warnings and up) go to stderr."""
    import logging

    import structlog

    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
        logger_factory=structlog.WriteLoggerFactory(file=sys.stderr),
    )


def _read(path: str) -> Any:
    import cv2
    import numpy as np

    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError:
        return None
    return cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None


def run(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from edged.config import ConfigError
    from edged.detection.detector import BatchStats, Detector
    from edged.detection.models import ModelNotPrepared

    _quiet_logs()
    try:
        detector = Detector(_detector_config(args))
    except ConfigError as exc:
        print("\n".join(exc.lines), file=sys.stderr)
        return 2
    except (ValidationError, LookupError, ModelNotPrepared, ValueError) as exc:
        print(f"detect: {exc}", file=sys.stderr)
        return 2
    status = 0
    for path in args.images:
        image = _read(path)
        if image is None:
            print(json.dumps({"image": path, "error": "cannot read image"}), flush=True)
            status = 1
            continue
        stats = BatchStats()
        found = detector.detect([image], stats)[0]
        out = {
            "image": path,
            "width": image.shape[1],
            "height": image.shape[0],
            "detections": [d.to_dict() for d in found],
            "infer_s": round(stats.infer_s, 4),
        }
        print(json.dumps(out), flush=True)
    return status
