"""`edged bench falling --json`: per-frame cost of the falling-object analytic on one core.

Renders a synthetic 1080p facade clip with a thrown object and birds (or takes --video and
--camera), pins the process to one CPU, runs OpenCV single-threaded and times only the
analytic's `process()` per frame (decoding is the camera worker's cost, measured elsewhere).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--size", default="1920x1080", help="WxH of the synthetic clip")
    parser.add_argument("--seconds", type=float, default=12.0)
    parser.add_argument("--video", type=Path, help="bench on this file instead (needs --camera)")
    parser.add_argument("--camera", type=Path)
    parser.add_argument("--all-cores", action="store_true", help="do not pin to one CPU")
    parser.add_argument("--keep", type=Path, help="keep the synthetic clip in this directory")


def run(args: argparse.Namespace) -> int:
    import cv2
    import numpy as np

    from edged.config.camera import CameraConfig
    from edged.config.loader import load_model
    from edged.pipelines.falling.analytic import FallingAnalytic
    from edged.pipelines.falling.synth.render import write_clip
    from edged.pipelines.falling.synth.scene import ClipSpec
    from edged.pipelines.frame import Frame

    if not args.all_cores and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[-1]})
        cv2.setNumThreads(1)
    with tempfile.TemporaryDirectory(prefix="edged-bench-falling-") as tmp:
        if args.video:
            if not args.camera:
                print("--video needs --camera", file=sys.stderr)
                return 2
            video, camera = args.video, load_model(args.camera, CameraConfig)
        else:
            w, h = (int(p) for p in args.size.split("x"))
            spec = ClipSpec(seed=4, width=w, height=h, objects=["throw_up"], distractors=["bird"],
                            t_release=(3.0, 3.5), duration=args.seconds)  # fmt: skip
            where = args.keep or Path(tmp)
            if not (where / "bench.mp4").is_file():
                write_clip(spec, where, "bench")
            video, camera = where / "bench.mp4", load_model(where / "bench.yaml", CameraConfig)
        analytic = FallingAnalytic(camera)
        cap = cv2.VideoCapture(str(video))
        times: list[float] = []
        cpu: list[float] = []
        i = 0
        events = 0
        size = (0, 0)
        while True:
            ok, img = cap.read()
            if not ok:
                break
            size = (img.shape[1], img.shape[0])
            t0, c0 = time.perf_counter(), time.thread_time()
            events += len(analytic.process(Frame(img, i, i / camera.fps, time.time())))
            times.append(time.perf_counter() - t0)
            cpu.append(time.thread_time() - c0)
            i += 1
        events += len(analytic.close())
    ms = np.array(times[1:] or [0.0]) * 1000.0
    cpu_ms = np.array(cpu[1:] or [0.0]) * 1000.0
    result = {
        "width": size[0],
        "height": size[1],
        "fps": camera.fps,
        "frames": len(times),
        "mean_ms": round(float(ms.mean()), 2),
        "p99_ms": round(float(np.percentile(ms, 99)), 2),
        "cpu_mean_ms": round(float(cpu_ms.mean()), 2),
        "cpu_p99_ms": round(float(np.percentile(cpu_ms, 99)), 2),
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "events": events,
        "one_core": not args.all_cores,
    }
    print(json.dumps(result) if args.json else "\n".join(f"{k}: {v}" for k, v in result.items()))
    return 0
