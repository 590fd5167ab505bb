"""Helpers: render a scene with the synthetic camera model, run the real analytic on it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from edged.config.camera import CameraConfig
from edged.events import Event
from edged.pipelines.thermal.npz import NpzSource
from edged.pipelines.thermal.screening import ThermalScreening
from edged.pipelines.thermal.synth import write_clip
from edged.pipelines.thermal.synth_scene import Camera, Person, Scene


@dataclass
class Run:
    screening: ThermalScreening
    events: list[Event]

    def fevers(self) -> list[Event]:
        return [e for e in self.events if e["type"] == "fever"]


def quiet_camera(**kw: float) -> Camera:
    """No noise, no drift, no shutter: what is left is the analytic's own error."""
    base = dict(netd_c=0.0, fpn_c=0.0, offset0_c=0.7, drift_c_per_h=0.0, gain_error=0.0, ffc_period_s=1e9)
    base.update(kw)
    return Camera(**base)  # type: ignore[arg-type]


def standing(
    pid: int, skin_c: float, x: float = 0.0, d: float = 1.6, t0: float = 1.5, t1: float = 4.0
) -> Person:
    return Person(pid, skin_c + 1.2, skin_c, t0, t1, (x, d), (x, d))


def render(tmp_path: Path, scene: Scene, name: str = "clip", seed: int = 1) -> tuple[Path, CameraConfig]:
    npz = write_clip(tmp_path, name, scene, np.random.default_rng(seed))
    camera = CameraConfig.model_validate(yaml.safe_load(npz.with_suffix(".yaml").read_text()))
    return npz, camera


def analyze(npz: Path, camera: CameraConfig, evidence: Path | None = None) -> Run:
    screening = ThermalScreening(camera, evidence)
    source = NpzSource(npz)
    events: list[Event] = []
    while (frame := source.read()) is not None:
        events += screening.process(frame)
    events += screening.close()
    return Run(screening, events)
