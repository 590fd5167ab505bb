"""Shutter gate and blackbody monitor on hand-made frames (fast, exact)."""

from __future__ import annotations

import numpy as np

from edged.config.thermal import BlackbodyConfig
from edged.pipelines.thermal.blackbody import BlackbodyMonitor
from edged.pipelines.thermal.frame import ThermalFrame, to_counts
from edged.pipelines.thermal.gates import FfcGate


def _frame(celsius: np.ndarray, t: float, ffc: bool | None = None) -> ThermalFrame:
    return ThermalFrame(to_counts(celsius), 0.01, 0.0, t, t, ffc=ffc)


def test_flagged_shutter_and_settle_are_skipped() -> None:
    gate = FfcGate(settle_s=0.25)
    img = np.random.default_rng(0).normal(25, 2, (40, 50)).astype(np.float32)
    flags = [False, True, True, False, False, False, False]
    got = [gate.check(_frame(img, i * 0.1, f), img)[0] for i, f in enumerate(flags)]
    assert got == [None, "ffc", "ffc", "ffc_settle", "ffc_settle", "ffc_settle", None]
    assert gate.shutters == 1


def test_freeze_means_shutter_only_for_a_noisy_sensor_and_not_for_long() -> None:
    rng = np.random.default_rng(1)
    scene = np.full((40, 50), 24.0, np.float32)
    scene[10:20, 10:20] = 34.0
    gate = FfcGate(settle_s=0.0)
    noisy = [scene + rng.normal(0, 0.05, scene.shape).astype(np.float32) for _ in range(3)]
    frames = [noisy[0], noisy[1], noisy[1], noisy[1], noisy[2]]  # a Lepton freezing during FFC
    got = [gate.check(_frame(f, i * 0.1), f)[0] for i, f in enumerate(frames)]
    assert got == [None, None, "ffc", "ffc", None]
    still = FfcGate(settle_s=0.0)  # a noiseless, static synthetic clip is not one long shutter
    assert [still.check(_frame(scene, i * 0.1), scene)[0] for i in range(5)] == [None] * 5
    flat = np.full((40, 50), 30.0, np.float32)  # the shutter itself in view
    assert FfcGate(0.0).check(_frame(flat, 0.0), flat)[0] == "ffc"


def test_blackbody_roi_a_pixel_too_wide_is_still_locked_and_unbiased() -> None:
    img = np.full((60, 80), 22.0, np.float32)
    img[10:22, 60:72] = 35.3  # emitter: the camera reads 0.3 high
    monitor = BlackbodyMonitor(BlackbodyConfig(roi=(59, 9, 14, 14), set_point_c=35.0))  # edge included
    for i in range(20):
        noisy = img + np.random.default_rng(i).normal(0, 0.05, img.shape).astype(np.float32)
        reading = monitor.update(noisy, i * 0.1)
    assert reading.calibrated
    assert abs(reading.offset_c + 0.3) < 0.02


def test_shutter_step_is_re_referenced_not_a_loss() -> None:
    img = np.full((60, 80), 22.0, np.float32)
    img[10:22, 60:72] = 35.0
    monitor = BlackbodyMonitor(BlackbodyConfig(roi=(62, 12, 8, 8)))
    for i in range(15):
        monitor.update(img, i * 0.1)
    assert monitor.state == "locked"
    monitor.shutter()
    stepped = monitor.update(img + 0.4, 1.6)  # the FFC moved the camera's offset by 0.4 °C
    assert stepped.calibrated and abs(stepped.offset_c + 0.4) < 1e-3
    lost = monitor.update(img + 0.8, 1.7)  # the same jump without a shutter: lost
    assert not lost.calibrated and lost.reason == "jump"
