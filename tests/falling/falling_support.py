"""Helpers for the falling-object tests: render a ground-truth clip and run the real analytic."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from edged.config.camera import CameraConfig
from edged.config.loader import load_model
from edged.events import Event
from edged.pipelines.falling.offline import analyze_file
from edged.pipelines.falling.synth.render import write_clip
from edged.pipelines.falling.synth.scene import ClipSpec

SIZE = (640, 360)


def render(out: Path, name: str, **spec: Any) -> tuple[Path, CameraConfig, dict[str, Any]]:
    spec.setdefault("width", SIZE[0])
    spec.setdefault("height", SIZE[1])
    write_clip(ClipSpec(**spec), out, name)
    camera = load_model(out / f"{name}.yaml", CameraConfig)
    truth = json.loads((out / f"{name}.truth.json").read_text())
    return out / f"{name}.mp4", camera, truth


def analyze(video: Path, camera: CameraConfig, evidence: Path | None = None) -> list[Event]:
    return analyze_file(video, camera, evidence).events


def severities(events: list[Event]) -> list[str]:
    return [e["data"]["severity"] for e in events]
