"""Run the falling-object analytic over a video file: `edged analyze falling`, `eval` and tests.

Same analytic object as live; only the frame source differs (a file decoded by OpenCV, frame
times from the file's frame rate so `t_release` is seconds from the start of the clip).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2

from edged.config.camera import CameraConfig
from edged.events import Event
from edged.pipelines.falling.analytic import FallingAnalytic
from edged.pipelines.falling.evidence import EvidenceRecorder
from edged.pipelines.frame import Frame


@dataclass
class OfflineResult:
    events: list[Event]
    frames: int
    fps: float
    frame_times: list[float] = field(default_factory=list)


def analyze_file(video: Path, camera: CameraConfig, evidence_dir: Path | None = None) -> OfflineResult:
    cap = cv2.VideoCapture(str(video))
    if not cap.isOpened():
        raise FileNotFoundError(f"cannot open video {video}")
    file_fps = cap.get(cv2.CAP_PROP_FPS)
    fps = file_fps if 1.0 <= file_fps <= 240.0 else camera.fps
    if abs(fps - camera.fps) > 0.01 * camera.fps:
        camera = camera.model_copy(update={"fps": fps})
    evidence = None
    if evidence_dir is not None:
        evidence = EvidenceRecorder(camera.id, evidence_dir, fps, realtime=False)
    analytic = FallingAnalytic(camera, evidence)
    events: list[Event] = []
    index = 0
    wall0 = time.time()
    try:
        while True:
            ok, image = cap.read()
            if not ok:
                break
            t = index / fps
            events.extend(analytic.process(Frame(image, index, t, wall0 + t)))
            index += 1
    finally:
        cap.release()
        events.extend(analytic.close())
    return OfflineResult(events, index, fps, list(analytic.frame_times))
