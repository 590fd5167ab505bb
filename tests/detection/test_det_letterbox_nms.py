"""Letterbox geometry (forward and back) and per-class NMS."""

from __future__ import annotations

import numpy as np
import pytest

from edged.detection.letterbox import PAD_VALUE, as_bgr, letterbox, target_shape, unletterbox
from edged.detection.nms import batched_nms, nms


@pytest.mark.parametrize(
    "h, w, rect, expected",
    [(512, 512, False, (320, 320)), (360, 640, False, (320, 320)), (360, 640, True, (192, 320)),
     (640, 360, True, (320, 192)), (1080, 1920, True, (192, 320)), (100, 100, True, (320, 320))],
)  # fmt: skip
def test_target_shape(h: int, w: int, rect: bool, expected: tuple[int, int]) -> None:
    assert target_shape(h, w, 320, rect=rect) == expected


def test_letterbox_places_content_and_pads_grey() -> None:
    image = np.zeros((360, 640, 3), np.uint8)
    image[100:200, 300:400] = (0, 0, 255)  # a red square (BGR)
    blob, lb = letterbox(image, 320, 320)
    assert blob.shape == (3, 320, 320) and blob.dtype == np.float32
    assert (lb.scale_x, lb.scale_y, lb.pad_x, lb.pad_y) == (0.5, 0.5, 0, 70)
    # padding above and below is grey; RGB order: the red square is channel 0
    assert np.allclose(blob[:, :70], PAD_VALUE / 255) and np.allclose(blob[:, 250:], PAD_VALUE / 255)
    assert np.allclose(blob[:, 70:250, :], blob[:, 70:250, :].clip(0, 1))
    assert blob[0, 70 + 75, 175] == pytest.approx(1.0) and blob[2, 70 + 75, 175] == pytest.approx(0.0)
    assert blob[0, 70 + 10, 175] == pytest.approx(0.0)  # above the square: black image content


def test_unletterbox_round_trip_and_clipping() -> None:
    image = np.zeros((360, 640, 3), np.uint8)
    for out_h, out_w in ((320, 320), (192, 320), (640, 640)):
        _, lb = letterbox(image, out_h, out_w)
        src = np.array([[300, 100, 400, 200], [0, 0, 640, 360]], np.float32)
        net = np.empty_like(src)
        net[:, [0, 2]] = src[:, [0, 2]] * lb.scale_x + lb.pad_x
        net[:, [1, 3]] = src[:, [1, 3]] * lb.scale_y + lb.pad_y
        np.testing.assert_allclose(unletterbox(net, lb), src, atol=1e-3)
    _, lb = letterbox(image, 320, 320)
    outside = np.array([[-50, -50, 400, 400]], np.float32)  # partly in the padding
    np.testing.assert_allclose(unletterbox(outside, lb), [[0, 0, 640, 360]])


def test_as_bgr_variants() -> None:
    assert as_bgr(np.zeros((4, 5), np.uint8)).shape == (4, 5, 3)
    assert as_bgr(np.zeros((4, 5, 1), np.uint8)).shape == (4, 5, 3)
    assert as_bgr(np.zeros((4, 5, 4), np.uint8)).shape == (4, 5, 3)
    with pytest.raises(ValueError):
        as_bgr(np.zeros((4, 5, 3), np.float32))
    with pytest.raises(ValueError):
        as_bgr(np.zeros((4, 5, 2), np.uint8))


def test_nms_suppresses_overlaps_of_one_class() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [0, 0, 10, 9.0]], np.float32)
    scores = np.array([0.8, 0.9, 0.5, 0.7], np.float32)
    assert nms(boxes, scores, 0.5).tolist() == [1, 2]
    assert nms(boxes, scores, 0.95).tolist() == [1, 0, 3, 2]  # nothing overlaps that much


def test_batched_nms_keeps_overlapping_boxes_of_other_classes() -> None:
    boxes = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [1, 0, 10, 10], [50, 50, 60, 60]], np.float32)
    scores = np.array([0.6, 0.9, 0.8, 0.3], np.float32)
    classes = np.array([0, 2, 0, 0])
    keep = batched_nms(boxes, scores, classes, 0.45)
    assert keep.tolist() == [1, 2, 3]  # person 2 suppresses person 0; the car (class 2) stays
    assert batched_nms(boxes, scores, classes, 0.45, max_det=2).tolist() == [1, 2]
    assert batched_nms(np.zeros((0, 4)), np.zeros(0), np.zeros(0), 0.5).tolist() == []


def test_nms_iou_boundary() -> None:
    boxes = np.array([[0, 0, 10, 10], [5, 0, 15, 10]], np.float32)  # IoU exactly 1/3
    scores = np.array([0.9, 0.8], np.float32)
    assert nms(boxes, scores, 1 / 3 + 1e-6).tolist() == [0, 1]
    assert nms(boxes, scores, 0.33).tolist() == [0]
