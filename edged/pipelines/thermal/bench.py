"""Throughput and decision latency of thermal screening on one core (`edged bench thermal`).

Renders a queue of people walking through (several faces per frame at times), runs the
analytic single-threaded with its default face finding (CenterFace on every Nth frame plus
hot regions) and times only `process()` (what a camera worker pays per frame).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from edged.config.camera import CameraConfig
from edged.config.loader import load_model
from edged.pipelines.thermal.npz import NpzSource
from edged.pipelines.thermal.screening import ThermalScreening
from edged.pipelines.thermal.synth import plan_scene, write_clip


def make_clips(directory: Path, seconds: float, seed: int = 3) -> list[Path]:
    rng = np.random.default_rng(seed)
    return [
        write_clip(directory, f"bench-{k}", plan_scene(k, rng, seconds), rng) for k in ("queue", "crossing")
    ]


def bench(clips: list[Path], detector: str | None = None) -> dict[str, Any]:
    faces = 0
    busy = 0.0
    frame_s: list[float] = []
    latencies: list[float] = []
    for clip in clips:
        camera = load_model(clip.with_suffix(".yaml"), CameraConfig)
        if detector is not None and camera.thermal is not None:
            camera.thermal.faces.detector = detector  # type: ignore[assignment]
        screening = ThermalScreening(camera)
        source = NpzSource(clip)
        frames = [f for f in iter(source.read, None)]
        for frame in frames:
            decided = len(screening.readings)
            t0 = time.perf_counter()
            screening.process(frame)
            dt = time.perf_counter() - t0
            busy += dt
            frame_s.append(dt)
            for r in screening.readings[decided:]:
                if not r.late:  # stream time from the first valid face frame, plus this frame's processing
                    latencies.append(r.t_decision - r.t_first + dt)
        screening.close()
        faces += screening.faces_seen
    p99_frame = float(np.percentile(frame_s, 99))
    return {
        "faces_per_s": round(faces / busy, 1) if busy else 0.0,
        "decision_latency_p99_s": round(float(np.percentile(latencies, 99)), 3) if latencies else None,
        "frames_per_s": round(len(frame_s) / busy, 1) if busy else 0.0,
        "frame_ms_p50": round(1000 * float(np.percentile(frame_s, 50)), 2),
        "frame_ms_p99": round(1000 * p99_frame, 2),
        "faces": faces,
        "decisions": len(latencies),
    }
