"""Demo part: a thermal entrance camera at the north pedestrian gate.

A stand-in Hikvision thermography camera (real HTTP + digest auth, the documented multipart
layout) renders the entrance live from the synthetic scene model: people walk in one after
another, now and then a febrile one (core 38-39 °C); a blackbody at 35 °C sits in view and
the camera drifts. The camera worker polls it over ISAPI like a real one; a `fever` makes
the rules worker hold the pedestrian gate closed (gates part).
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from edged.pipelines.thermal.isapi_sim import IsapiStandIn
from edged.pipelines.thermal.synth import SKIN_TO_CORE_C, camera_section, make_person
from edged.pipelines.thermal.synth_scene import Camera, Scene, render_true

CAMERA_ID = "thermal-north-gate"
USER, PASSWORD = "admin", "demo-thermal-1"
LOOP_S = 48.0
FPS = 8.0


def demo_scene(seed: int = 11) -> Scene:
    """A loop of people walking in; every third one febrile."""
    rng = np.random.default_rng(seed)
    cam = Camera(fps=FPS, offset0_c=0.6, drift_c_per_h=1.0, ffc_period_s=1e9)
    people = []
    t, pid = 0.5, 0
    while t + 4.0 < LOOP_S:
        pid += 1
        walk = float(rng.uniform(3.0, 3.6))
        lateral = float(rng.uniform(-0.2, 0.2))
        core = float(rng.uniform(38.0, 39.0)) if pid % 3 == 0 else float(rng.uniform(36.3, 36.9))
        people.append(
            make_person(rng, pid, t, t + walk, (lateral, 4.5), (lateral + 0.7 * (-1) ** pid, 1.0), core, 0.05)
        )
        t += walk * 1.1
    return Scene(cam, LOOP_S, people, ambient_c=23.0)


class _LiveCamera:
    """Renders what the camera reads now: scene time loops, noise and drift keep running."""

    def __init__(self, scene: Scene) -> None:
        self.scene = scene
        self.rng = np.random.default_rng(5)
        self.t0 = time.monotonic()
        self.lock = threading.Lock()

    def __call__(self) -> tuple[np.ndarray, bool]:
        cam = self.scene.camera
        elapsed = time.monotonic() - self.t0
        true = render_true(self.scene, elapsed % LOOP_S)
        with self.lock:
            noise = self.rng.normal(0, cam.netd_c, true.shape).astype(np.float32)
        drift = cam.offset0_c + cam.drift_c_per_h * elapsed / 3600
        return (true + drift + noise).astype(np.float32), False


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ThermalPart:
    name = "thermal"

    def __init__(self) -> None:
        self.port = _free_port()
        self.scene = demo_scene()

    def configure(self, site: dict[str, Any], workdir: Path) -> None:
        section = camera_section(CAMERA_ID, f"isapi://{USER}:{PASSWORD}@127.0.0.1:{self.port}/2", self.scene)
        section["fps"] = FPS
        section["thermal"]["skin_offset_c"] = SKIN_TO_CORE_C
        site.setdefault("cameras", []).append(section)

    @contextlib.contextmanager
    def simulators(self, site: dict[str, Any], workdir: Path) -> Iterator[None]:
        if not any(c.get("id") == CAMERA_ID for c in site.get("cameras", [])):
            yield
            return
        with IsapiStandIn(_LiveCamera(self.scene), USER, PASSWORD, port=self.port):
            yield
