"""Run the falling-object analytic over a video file: `edged analyze falling`, `eval` and tests.

Same analytic object as live; only the frame source differs (a file decoded by OpenCV, frame
times from the file's frame rate so `t_release` is seconds from the start of the clip).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from edged.config.camera import CameraConfig
from edged.events import Event
from edged.pipelines.falling.analytic import FallingAnalytic
from edged.pipelines.falling.evidence import EvidenceRecorder
from edged.pipelines.frame import VideoFile


@dataclass
class OfflineResult:
    events: list[Event]
    frames: int
    fps: float
    frame_times: list[float] = field(default_factory=list)


def analyze_file(video: Path, camera: CameraConfig, evidence_dir: Path | None = None) -> OfflineResult:
    frames = VideoFile(video, camera.fps)
    fps = frames.fps
    if abs(fps - camera.fps) > 0.01 * camera.fps:
        camera = camera.model_copy(update={"fps": fps})
    evidence = None
    if evidence_dir is not None:
        evidence = EvidenceRecorder(camera.id, evidence_dir, fps, realtime=False)
    analytic = FallingAnalytic(camera, evidence)
    events: list[Event] = []
    try:
        for frame in frames:
            events.extend(analytic.process(frame))
    finally:
        events.extend(analytic.close())
    return OfflineResult(events, frames.frames, fps, list(analytic.frame_times))
