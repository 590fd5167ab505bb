"""Build the falling-object analytic for a live camera worker (evidence under the state dir).

An ``rtsp://`` source gets a ring of its own compressed packets (ffmpeg ``-c copy``); any other
source gets its decoded frames encoded into the ring. Call from the camera worker when
``camera.facade`` is set::

    analytic = build_falling_analytic(camera, cfg.runtime.state_dir)
    ...
    for event in analytic.process(frame): ctx.emit(event)
"""

from __future__ import annotations

from pathlib import Path

from edged.config.camera import CameraConfig
from edged.pipelines.falling.analytic import FallingAnalytic
from edged.pipelines.falling.evidence import EvidenceRecorder, ffmpeg_available


def evidence_dir(state_dir: Path, camera_id: str) -> Path:
    return state_dir / "evidence" / "falling" / camera_id


def build_falling_analytic(
    camera: CameraConfig, state_dir: Path, max_bytes: int = 2 << 30, with_evidence: bool = True
) -> FallingAnalytic:
    evidence = None
    if with_evidence and ffmpeg_available():
        rtsp = camera.source if camera.source.startswith(("rtsp://", "rtsps://")) else None
        evidence = EvidenceRecorder(
            camera.id, evidence_dir(state_dir, camera.id), camera.fps, rtsp_source=rtsp, max_bytes=max_bytes
        )
    return FallingAnalytic(camera, evidence)
