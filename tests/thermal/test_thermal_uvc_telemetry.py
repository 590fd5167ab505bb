"""UVC Lepton telemetry rows: the shutter flag from row A's FFC state, and the image without them.

There is no USB camera here: `_PureThermal` stands in for cv2.VideoCapture on a PureThermal board
(it offers the Y16 frame sizes the board's descriptors list, 160x120 and 160x122, and hands back
raw bytes like the V4L2 backend). The telemetry words are built from the Lepton Engineering
Datasheet (500-0659-00-09 rev 203): row A words 1-2 uptime, 3-4 status bits (least significant
word first; FFC desired bit 3, FFC state bits 4-5, overtemp bit 20), 20-21 frame counter.
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest
from prometheus_client import REGISTRY
from structlog.testing import capture_logs

from edged.config.camera import CameraConfig
from edged.pipelines.thermal.frame import ThermalFrame, to_counts
from edged.pipelines.thermal.gates import FfcGate
from edged.pipelines.thermal.screening import ThermalScreening
from edged.pipelines.thermal.sources import SourceError
from edged.pipelines.thermal.uvc import (
    FFC_COMPLETE,
    FFC_IMMINENT,
    FFC_IN_PROGRESS,
    FFC_NEVER_COMMANDED,
    UvcY16Source,
    lepton_ffc_state,
)

FPS = 9.0  # PureThermal's unique-frame rate


class _PureThermal:
    """Stands in for cv2.VideoCapture on a PureThermal board (no USB camera on this box)."""

    def __init__(
        self, frames: list[np.ndarray], sizes: tuple[tuple[int, int], ...] = ((160, 120), (160, 122))
    ):
        self.frames = frames
        self.sizes = sizes
        self.size = sizes[0]
        self.released = False

    def isOpened(self) -> bool:
        return True

    def set(self, prop: int, value: float) -> bool:
        if prop == cv2.CAP_PROP_FRAME_HEIGHT:
            wanted = (self.size[0], int(value))
            if wanted not in self.sizes:
                return False
            self.size = wanted
        return True

    def get(self, prop: int) -> float:
        return {cv2.CAP_PROP_FRAME_WIDTH: self.size[0], cv2.CAP_PROP_FRAME_HEIGHT: self.size[1]}.get(
            prop, 0.0
        )

    def read(self) -> tuple[bool, np.ndarray | None]:
        if not self.frames:
            return False, None
        frame = self.frames.pop(0)
        assert frame.shape == (self.size[1], self.size[0]), "the stand-in only sends the selected size"
        return True, frame.astype("<u2").view(np.uint8).reshape(1, -1)  # raw bytes, as V4L2 hands them

    def release(self) -> None:
        self.released = True


def row_a(state: int, index: int, *, desired: bool = False, overtemp: bool = False) -> np.ndarray:
    words = np.zeros(80, np.uint16)
    words[0] = 0x0E  # telemetry revision
    uptime = 5_000_000 + index * 111  # ms since boot, past 2^16 so both words are used
    words[1], words[2] = uptime & 0xFFFF, uptime >> 16
    status = (state << 4) | (int(desired) << 3) | (int(overtemp) << 20)
    words[3], words[4] = status & 0xFFFF, status >> 16
    words[20], words[21] = (70_000 + 3 * index) & 0xFFFF, (70_000 + 3 * index) >> 16  # frame counter
    words[24] = 30_815  # FPA temperature, kelvin x 100
    return words


def with_telemetry(image: np.ndarray, words: np.ndarray, where: str) -> np.ndarray:
    """A Lepton 3 frame (2 rows: A|B, C|reserved) or a Lepton 2 frame (3 rows: A, B, C)."""
    width = image.shape[1]
    tele = np.zeros((2 if width == 160 else 3, width), np.uint16)
    tele.reshape(-1)[: words.size] = words
    tele.reshape(-1)[80:160] = 0x1234  # row B content: never read as status
    return np.vstack([tele, image] if where == "header" else [image, tele])


def scene(rng: np.random.Generator, shape: tuple[int, int] = (120, 160), offset_c: float = 0.0) -> np.ndarray:
    celsius = np.full(shape, 24.0) + offset_c + rng.normal(0, 0.05, shape)  # NETD noise: never repeats
    celsius[40:80, 60:90] += 10.0  # a person
    return to_counts(celsius)


def _errors(camera: str) -> float:
    return REGISTRY.get_sample_value("edged_thermal_telemetry_errors_total", {"camera": camera}) or 0.0


def test_datasheet_status_words_decode_to_the_ffc_state() -> None:
    for state in (FFC_NEVER_COMMANDED, FFC_IMMINENT, FFC_IN_PROGRESS, FFC_COMPLETE):
        assert lepton_ffc_state(row_a(state, 1)) == state
        assert lepton_ffc_state(row_a(state, 1, desired=True, overtemp=True)) == state  # defined bits only
    assert lepton_ffc_state(np.zeros(80, np.uint16)) is None  # no telemetry at all
    assert lepton_ffc_state(np.full(80, 30_100, np.uint16)) is None  # image pixels (~28 °C) in its place
    garbled = row_a(FFC_COMPLETE, 1)
    garbled[4] |= 0x0100  # a reserved status bit
    assert lepton_ffc_state(garbled) is None


@pytest.mark.parametrize("where", ["footer", "header"])
def test_ffc_in_progress_frames_are_skipped_by_the_gate_and_the_image_rows_are_right(where: str) -> None:
    rng = np.random.default_rng(3)
    plan = [FFC_COMPLETE] * 10 + [FFC_IMMINENT] * 18 + [FFC_IN_PROGRESS] * 9 + [FFC_COMPLETE] * 8
    images = [scene(rng, offset_c=0.4 if s == FFC_IN_PROGRESS else 0.0) for s in plan]  # re-settling, live
    raw = [
        with_telemetry(img, row_a(s, i), where) for i, (img, s) in enumerate(zip(images, plan, strict=True))
    ]
    cap = _PureThermal(raw)
    source = UvcY16Source(0, capture=cap, telemetry=where, camera="lepton-gate")
    assert (source.width, source.height) == (160, 122)  # the source asked for the frame with telemetry
    # The stand-in delivers as fast as the test reads; put the frames on the board's 9 Hz clock.
    frames = [dataclasses.replace(f, t=i / FPS) for i in range(len(plan)) if (f := source.read()) is not None]
    for frame, image in zip(frames, images, strict=True):
        assert np.array_equal(frame.counts, image)  # telemetry stripped, no image row lost or shifted
    assert [f.ffc for f in frames] == [s == FFC_IN_PROGRESS for s in plan]  # imminent: shutter still open

    gate = FfcGate(settle_s=0.25)
    reasons = [gate.check(f, f.celsius())[0] for f in frames]
    assert reasons == [None] * 28 + ["ffc"] * 9 + ["ffc_settle"] * 3 + [None] * 5
    assert gate.shutters == 1
    # Control: the same frames without the flag pass the freeze detector (live noise, no flat field),
    # which is why the telemetry row is worth having.
    blind = FfcGate(settle_s=0.25)
    assert [blind.check(dataclasses.replace(f, ffc=None), f.celsius())[0] for f in frames] == [None] * len(
        frames
    )


def test_screening_counts_the_shutter_frames_as_ffc() -> None:
    rng = np.random.default_rng(4)
    plan = [FFC_COMPLETE] * 5 + [FFC_IN_PROGRESS] * 4 + [FFC_COMPLETE] * 6
    raw = [with_telemetry(scene(rng), row_a(s, i), "footer") for i, s in enumerate(plan)]
    camera = CameraConfig.model_validate(
        {
            "id": "lepton-gate",
            "source": "uvc:0",
            "fps": FPS,
            "thermal": {"telemetry": "footer", "faces": {"detector": "hot_region"}},
        }
    )
    assert camera.thermal is not None
    source = UvcY16Source(0, capture=_PureThermal(raw), telemetry=camera.thermal.telemetry, camera=camera.id)
    screening = ThermalScreening(camera)
    for i in range(len(plan)):
        frame = source.read()
        assert isinstance(frame, ThermalFrame)
        screening.process(dataclasses.replace(frame, t=i / FPS))
    assert screening.skipped["ffc"] == 4 and screening.skipped["ffc_settle"] == 3


def test_unparseable_telemetry_leaves_ffc_to_the_freeze_detector_and_is_counted() -> None:
    rng = np.random.default_rng(5)
    good = with_telemetry(scene(rng), row_a(FFC_IN_PROGRESS, 1), "footer")
    zeros = with_telemetry(scene(rng), np.zeros(80, np.uint16), "footer")
    before = _errors("lepton-misset")
    with capture_logs() as logs:
        # configured as header while the board sends a footer: "row A" is image pixels
        source = UvcY16Source(
            0, capture=_PureThermal([good, zeros, good]), telemetry="header", camera="lepton-misset"
        )
        frames = [source.read() for _ in range(3)]
    assert [f.ffc for f in frames if f is not None] == [None, None, None]
    assert _errors("lepton-misset") - before == 3
    assert len([e for e in logs if e["log_level"] == "warning"]) == 1  # logged once, counted always


def test_lepton2_telemetry_is_three_rows_of_80() -> None:
    rng = np.random.default_rng(6)
    image = scene(rng, (60, 80))
    cap = _PureThermal(
        [with_telemetry(image, row_a(FFC_IN_PROGRESS, 1), "header")], sizes=((80, 60), (80, 63))
    )
    frame = UvcY16Source(0, capture=cap, telemetry="header").read()
    assert frame is not None and frame.ffc is True and np.array_equal(frame.counts, image)


def test_telemetry_that_the_device_cannot_send_is_a_source_error() -> None:
    no_rows = _PureThermal([], sizes=((160, 120),))  # firmware without the 160x122 descriptor
    with pytest.raises(SourceError, match="160x122"):
        UvcY16Source(0, capture=no_rows, telemetry="footer")
    assert no_rows.released
    boson = _PureThermal([], sizes=((320, 256),))
    with pytest.raises(SourceError, match="Lepton"):
        UvcY16Source(0, capture=boson, telemetry="footer")
    plain = _PureThermal([np.full((120, 160), 30_000, np.uint16)])
    assert UvcY16Source(0, capture=plain).read().ffc is None  # default: no telemetry, freeze detector
