"""Model adapters: a YOLOv8-layout model built here and run through onnxruntime with a known
output; the darknet head decoding against darknet's formulas; layout mismatches."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from det_yolov8_model import build, column

from edged.config.detectors import YoloDarknetDetector, YoloUltralyticsDetector
from edged.detection.adapters import DarknetYoloAdapter, ModelLayoutError
from edged.detection.detector import Detector


def _table() -> np.ndarray:
    cols = [
        column(100, 140, 40, 80, {0: 0.9}),  # person A
        column(102, 142, 40, 80, {0: 0.8}),  # person B: same person, lower score -> suppressed
        column(100, 140, 40, 80, {2: 0.7, 0: 0.1}),  # a car in the same place: other class, kept
        column(250, 200, 20, 20, {0: 0.3}),  # a small person
        column(200, 100, 30, 30, {0: 0.1}),  # below the score threshold
        column(10, 45, 40, 20, {5: 0.5}),  # a bus reaching into the letterbox padding
    ]
    table = np.zeros((84, 2100), np.float32)  # N = 40² + 20² + 10² anchors, as a 320 export has
    table[:, [7, 300, 301, 1500, 2000, 2099]] = np.stack(cols, axis=1)
    return table


# 640x480 source into a fixed 320x320 input: scale 0.5, 40 px of padding above and below.
EXPECTED = [
    ("person", 0.9, (160, 120, 240, 280)),
    ("car", 0.7, (160, 120, 240, 280)),
    ("bus", 0.5, (0, 0, 60, 30)),
    ("person", 0.3, (480, 300, 520, 340)),
]


def _check(found: list, expected: list = EXPECTED) -> None:
    assert [(d.label, round(d.score, 3)) for d in found] == [(lab, s) for lab, s, _ in expected]
    for d, (_, _, box) in zip(found, expected, strict=True):
        np.testing.assert_allclose(d.box, box, atol=0.01)


@pytest.mark.parametrize("transposed", [False, True])
def test_yolov8_layout_decoded(tmp_path: Path, transposed: bool) -> None:
    model = build(tmp_path / "v8.onnx", _table(), transposed=transposed)
    det = Detector(YoloUltralyticsDetector(name="site", model=str(model), input_size=640))
    assert det.size == 320 and not det.rect  # the model's fixed input wins over the config
    image = np.zeros((480, 640, 3), np.uint8)
    results = det.detect([image, image, image])
    for found in results:
        _check(found)


def test_yolov8_names_metadata_and_class_filter(tmp_path: Path) -> None:
    names = {i: f"c{i}" for i in range(80)} | {0: "pedestrian", 2: "auto"}
    model = build(tmp_path / "v8.onnx", _table(), names=names)
    det = Detector(YoloUltralyticsDetector(name="site", model=str(model), classes=["pedestrian"]))
    found = det.detect([np.zeros((480, 640, 3), np.uint8)])[0]
    assert [(d.label, d.cls) for d in found] == [("pedestrian", 0), ("pedestrian", 0)]


def test_fixed_batch_of_one_runs_one_at_a_time(tmp_path: Path) -> None:
    from edged.detection.detector import BatchStats

    model = build(tmp_path / "v8b1.onnx", _table(), batch=1)
    det = Detector(YoloUltralyticsDetector(name="site", model=str(model)))
    stats = BatchStats()
    results = det.detect([np.zeros((480, 640, 3), np.uint8)] * 3, stats)
    assert [size for size, _ in stats.batches] == [1, 1, 1]
    for found in results:
        _check(found)


def _logit(p: float) -> float:
    return math.log(p / (1 - p))


def test_darknet_head_decoding_follows_darknet() -> None:
    anchors = [[81, 82], [135, 169], [344, 319]]
    meta = {"format": "darknet-yolo", "names": ["person", "car"],
            "heads": [{"output": "yolo0", "anchors": anchors, "classes": 2, "scale_x_y": 1.0}]}  # fmt: skip
    adapter = DarknetYoloAdapter({"edged": json.dumps(meta)})
    head = np.full((2, 3, 7, 10, 10), -20.0, np.float32)  # B, A, 5+C, H, W
    head[1, 1, :, 3, 4] = [0.0, 0.0, math.log(2), 0.0, _logit(0.9), _logit(0.8), _logit(0.1)]
    candidates = adapter.decode({"yolo0": head.reshape(2, 21, 10, 10)}, 320, 320, 0.25)
    assert [c[1].size for c in candidates] == [0, 1]  # only batch item 1 has an object
    boxes, scores, classes = candidates[1]
    # x = (col + σ(tx)) * stride, w = exp(tw) * anchor_w, score = σ(obj) * σ(cls)
    np.testing.assert_allclose(boxes[0], [144 - 135, 112 - 84.5, 144 + 135, 112 + 84.5], atol=1e-3)
    assert scores[0] == pytest.approx(0.72, abs=1e-5) and classes[0] == 0


def test_layout_mismatches_are_clear_errors(tmp_path: Path, coco_model: Path) -> None:
    v8 = build(tmp_path / "v8.onnx", _table())
    with pytest.raises(ModelLayoutError, match="edged models prepare"):
        Detector(YoloDarknetDetector(model=str(v8)))
    with pytest.raises(ModelLayoutError, match=r"\[1, 4\+C, N\]"):
        Detector(YoloUltralyticsDetector(name="x", model=str(coco_model)))
