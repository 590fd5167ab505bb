"""Bad input never crashes the analytic: odd pixels are dropped and counted, a resolution change
rebuilds the state; flicker, an exposure jump and pure noise raise nothing."""

from __future__ import annotations

import time

import numpy as np
from prometheus_client import REGISTRY

from edged.config.camera import CameraConfig
from edged.pipelines.falling.analytic import FallingAnalytic
from edged.pipelines.frame import Frame

CAMERA = {
    "id": "robust-cam",
    "source": "/dev/null",
    "fps": 25,
    "facade": {"points": [[0, 0, 0, 30], [320, 0, 20, 30], [320, 240, 20, 0], [0, 240, 0, 0]]},
}


def _value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_bad_frames_are_dropped_and_counted() -> None:
    an = FallingAnalytic(CameraConfig.model_validate(CAMERA))
    before = _value("edged_falling_dropped_frames_total", camera="robust-cam")
    rng = np.random.default_rng(0)
    frames = [
        np.zeros((240, 320, 3), np.float32),  # wrong dtype
        np.zeros((240,), np.uint8),  # wrong rank
        rng.integers(0, 255, (240, 320, 3), dtype=np.uint8),
        rng.integers(0, 255, (240, 320), dtype=np.uint8),  # grey is fine
        rng.integers(0, 255, (120, 160, 3), dtype=np.uint8),  # resolution change
    ]
    for i, img in enumerate(frames):
        assert an.process(Frame(img, i, i / 25, time.time())) == []  # type: ignore[arg-type]
    assert _value("edged_falling_dropped_frames_total", camera="robust-cam") - before == 2
    assert _value("edged_falling_restarts_total", camera="robust-cam") >= 1
    assert an.close() == []


def test_noise_flicker_and_exposure_jump_raise_nothing() -> None:
    an = FallingAnalytic(CameraConfig.model_validate(CAMERA | {"id": "robust-cam2"}))
    rng = np.random.default_rng(1)
    base = rng.integers(60, 200, (240, 320), dtype=np.uint8)
    events = []
    for i in range(150):
        gain = 1.0 + 0.03 * np.sin(i / 3.0) + (0.3 if i > 70 else 0.0)  # flicker, then a jump
        img = np.clip(base * gain + rng.normal(0, 4, base.shape), 0, 255).astype(np.uint8)
        events += an.process(Frame(img, i, i / 25, time.time()))
    events += an.close()
    assert events == []
    assert _value("edged_falling_frame_seconds_count", camera="robust-cam2") == 150
