"""Plate reading with the real RapidOCR models on synthetic Chinese plates drawn with a CJK font.

Plates are rendered by Pillow with a real TrueType CJK font (Debian fonts-wqy-zenhei, listed in
.ci/apt-packages.txt) onto a street-like frame; frames reach the gates worker through a real
shared-memory ring, as they do from a camera worker, and barriers through pymodbus' server.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from gates_support import Harness, gates_section, io_points, metric
from PIL import Image, ImageDraw, ImageFont

from edged.config.gates import GatesConfig
from edged.gates.plate_feed import PlateFeed, PlateResult, RingFrames
from edged.gates.plates import PlateReader, valid_plate
from edged.gates.sim import BarrierSimulator
from edged.pipelines.ring import FrameRing, ring_name

FONTS = (
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
)
PLATE_BOX = (560, 470, 220, 70)  # x, y, w, h of the plate in the street frame
ROI = (400, 380, 560, 260)


def _font_path() -> str:
    for path in FONTS:
        if Path(path).exists():
            return path
    pytest.skip("no CJK TrueType font: apt-get install fonts-wqy-zenhei (.ci/apt-packages.txt)")


def street(
    text: str | None = None,
    bg: tuple[int, int, int] = (0, 60, 170),
    fg: tuple[int, int, int] = (255, 255, 255),
) -> np.ndarray:
    """A 1280x720 BGR street: sky, building, road, a car; its plate (RGB colours) when `text`."""
    rng = np.random.default_rng(7)
    img = Image.new("RGB", (1280, 720), (150, 175, 200))
    d = ImageDraw.Draw(img)
    d.rectangle([0, 0, 1280, 300], fill=(120, 150, 190))  # sky
    d.rectangle([60, 60, 360, 420], fill=(170, 160, 150))  # building
    for wx in range(90, 340, 60):
        for wy in range(90, 400, 70):
            d.rectangle([wx, wy, wx + 30, wy + 40], fill=(60, 70, 90))
    d.rectangle([0, 420, 1280, 720], fill=(85, 85, 90))  # road
    d.rectangle([420, 330, 940, 620], fill=(40, 40, 48))  # car front
    d.rectangle([470, 350, 890, 440], fill=(110, 130, 150))  # windscreen
    if text is not None:
        x, y, w, h = PLATE_BOX
        font = ImageFont.truetype(_font_path(), 40)
        tw = d.textlength(text, font=font)
        w = max(w, round(tw) + 24)  # green plates are longer (8 characters)
        d.rectangle([x, y, x + w, y + h], fill=bg, outline=fg, width=3)
        d.text((x + (w - tw) / 2, y + 12), text, font=font, fill=fg)
    rgb = np.asarray(img, dtype=np.int16) + rng.integers(-12, 13, (720, 1280, 3), dtype=np.int16)
    return np.ascontiguousarray(rgb.clip(0, 255).astype(np.uint8)[:, :, ::-1])


def sign(text: str) -> np.ndarray:
    """A street frame with a shop sign instead of a plate: text, but not a plate."""
    frame = street()
    img = Image.fromarray(frame[:, :, ::-1].copy())
    d = ImageDraw.Draw(img)
    d.rectangle([450, 460, 900, 540], fill=(200, 30, 30))
    d.text((470, 470), text, font=ImageFont.truetype(_font_path(), 50), fill=(255, 240, 0))
    return np.ascontiguousarray(np.asarray(img)[:, :, ::-1])


@pytest.fixture(scope="module")
def reader() -> PlateReader:
    return PlateReader(threads=1)


# -- the validator --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "plate"),
    [
        ("渝A·12345", "渝A12345"),
        ("渝a 12345", "渝A12345"),
        ("京B·C2D3E", "京BC2D3E"),
        ("渝AD12345", "渝AD12345"),  # new energy, small (green)
        ("粤B·F1234 5", "粤BF12345"),
        ("沪A12345D", "沪A12345D"),  # new energy, large
        ("川A1234学", "川A1234学"),
    ],
)
def test_validator_accepts_mainland_plates(text: str, plate: str) -> None:
    assert valid_plate(text) == plate


@pytest.mark.parametrize(
    "text",
    ["", "12345", "XA12345", "渝112345", "渝A1234", "渝A123456", "渝A12O45", "渝AI2345", "渝AD1234X",
     "WELCOME", "欢迎光临", "渝A·1234567"],
)  # fmt: skip
def test_validator_rejects_what_is_not_a_plate(text: str) -> None:
    assert valid_plate(text) is None


# -- the real OCR models ----------------------------------------------------------------------------


def test_reads_blue_plate(reader: PlateReader) -> None:
    frame = street("渝A·12345")
    read = reader.read(frame, ROI)
    assert (read.result, read.plate) == ("read", "渝A12345"), read
    assert read.confidence >= 0.8
    assert read.box is not None
    x, y, w, h = read.box
    px, py, pw, ph = PLATE_BOX
    assert px - 10 <= x <= px + pw and py - 10 <= y <= py + ph and w <= pw + 40 and h <= ph + 20
    whole = reader.read(frame)  # no region: the whole street frame
    assert (whole.result, whole.plate) == ("read", "渝A12345"), whole


def test_reads_green_new_energy_plate(reader: PlateReader) -> None:
    read = reader.read(street("渝AD12345", bg=(110, 200, 120), fg=(0, 0, 0)), ROI)
    assert (read.result, read.plate) == ("read", "渝AD12345"), read


def test_frame_without_plate_reads_nothing(reader: PlateReader) -> None:
    read = reader.read(street(), ROI)
    assert read.plate is None and read.result in ("no_text", "invalid"), read


def test_sign_text_is_rejected(reader: PlateReader) -> None:
    read = reader.read(sign("欢迎光临 ABC"), ROI)
    assert read.plate is None and read.result == "invalid", read
    assert read.text  # the OCR did see text: the validator refused it


def test_low_confidence_is_no_decision(reader: PlateReader) -> None:
    read = reader.read(street("渝A·12345"), ROI, min_confidence=0.999999)
    assert (read.result, read.plate) == ("low_confidence", None), read


# -- frames from a camera's ring, reads on the feed's thread ----------------------------------------


NS = "edged-test"


def _config(port: int, **plate: object) -> GatesConfig:
    section = gates_section(port, n=1)
    section["checkpoints"][0].update(
        plate_camera="cam-plate", plate={"roi": list(ROI), "retry_s": 0.1, **plate}
    )
    return GatesConfig.model_validate(section)


@pytest.fixture
def ring(tmp_path: Path) -> Iterator[FrameRing]:
    with FrameRing.create(ring_name("cam-plate", NS), 2, (720, 1280, 3), shm_dir=tmp_path) as r:
        yield r


def _reads(result: str) -> float:
    return metric("edged_gates_plate_reads_total", checkpoint="cp-1", result=result)


def _until_results(
    feed: PlateFeed, n_counted: int, before: float, result: str, timeout_s: float = 30.0
) -> list[PlateResult]:
    out: list[PlateResult] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        out += feed.poll(time.monotonic())
        if _reads(result) >= before + n_counted:
            return out
        time.sleep(0.02)
    raise TimeoutError(f"{result} not counted {n_counted} times")


@contextlib.contextmanager
def _running_feed(cfg: GatesConfig, shm_dir: Path) -> Iterator[PlateFeed]:
    feed = PlateFeed(cfg.checkpoints, RingFrames(NS, shm_dir))
    feed.start()
    try:
        yield feed
    finally:
        feed.stop()


def test_feed_counts_sign_text_once_per_attempt(ring: FrameRing, tmp_path: Path) -> None:
    ring.write(sign("欢迎光临 ABC"), 0.0, time.time())
    with _running_feed(_config(502, attempts=2), tmp_path) as feed:
        before = _reads("invalid")
        feed.arrived("cp-1", time.monotonic())
        assert _until_results(feed, 2, before, "invalid") == []  # no read, no decision
        time.sleep(0.3)
        assert feed.poll(time.monotonic()) == []
        assert _reads("invalid") == before + 2


def test_a_read_finished_after_its_vehicle_left_decides_nothing(ring: FrameRing, tmp_path: Path) -> None:
    # Vehicle A leaves and B drives on while A's plate is still being read: A's result is counted
    # `gone` and never decided (it would open for B), and B's own read still happens.
    ring.write(street("渝A·12345"), 0.0, time.time())
    with _running_feed(_config(502, attempts=1), tmp_path) as feed:
        gone, read = _reads("gone"), _reads("read")
        feed.arrived("cp-1", time.monotonic())
        assert feed.poll(time.monotonic()) == []  # A's read is submitted; OCR takes ~0.15 s
        feed.left("cp-1")
        feed.arrived("cp-1", time.monotonic())  # B, before A's result is back
        results = _until_results(feed, 1, read, "read")
        assert _reads("gone") == gone + 1
        assert [r.read.plate for r in results] == ["渝A12345"]  # B's read, the only one decided


def test_feed_without_camera_ring_or_with_stale_frame_decides_nothing(
    ring: FrameRing, tmp_path: Path
) -> None:
    cfg = _config(502, attempts=1)
    feed = PlateFeed(cfg.checkpoints, RingFrames(NS, tmp_path / "elsewhere"))  # the camera is not running
    before = _reads("no_frame")
    feed.arrived("cp-1", 0.0)
    assert feed.poll(1.0) == []
    assert _reads("no_frame") == before + 1
    ring.write(street("渝A·12345"), 0.0, time.time() - 10.0)  # the camera stalled 10 s ago
    feed = PlateFeed(cfg.checkpoints, RingFrames(NS, tmp_path))
    before = _reads("stale")
    feed.arrived("cp-1", 0.0)
    assert feed.poll(1.0) == []
    assert _reads("stale") == before + 1


def test_vehicle_on_loop_reads_plate_from_ring_and_opens(ring: FrameRing, tmp_path: Path) -> None:
    cfg0 = _config(1)
    with BarrierSimulator(io_points(cfg0), motion_s=0.2) as sim:
        cfg = _config(sim.port)
        (cp,) = io_points(cfg)
        ring.write(street("渝A·12345"), 0.0, time.time())
        feed = PlateFeed(cfg.checkpoints, RingFrames(NS, tmp_path))
        with Harness(cfg, tmp_path, plates=feed) as h:
            h.until(lambda: h.online("cp-1"))
            h.service.handlers()["pass_add"]({"plate": "渝A·12345", "kind": "whitelist"})
            sim.set_loop(cp, True)  # the car drives onto the loop
            reads = h.until(lambda: h.of("plate_read", "cp-1"), timeout_s=30.0)
            data = reads[0]["data"]
            assert (data["plate"], data["checkpoint"], data["camera"]) == ("渝A12345", "cp-1", "cam-plate")
            assert data["confidence"] >= 0.8
            opened = h.until(lambda: h.of("gate_opened", "cp-1"))
            assert (
                opened[0]["data"]["plate_source"] == "camera" and opened[0]["data"]["reason"] == "whitelist"
            )
            h.until(lambda: sim.pulses(cp, cp.open_coil) == 1)
            time.sleep(0.5)
            h.service.step()
            assert len(h.of("plate_read")) == 1  # one decision per vehicle: no more reads after it
