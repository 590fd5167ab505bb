"""The shipped COCO model (converted by our converter) on real pictures."""

from __future__ import annotations

import numpy as np
import structlog
from det_support import ASTRONAUT_PERSON, CAMERA_PERSON, iou

from edged.config.detectors import YoloDarknetDetector
from edged.detection.detector import BatchStats, Detector, region_jobs
from edged.detection.session import ORT_NAMES, provider_chain


def _people(found: list) -> list:
    return [d for d in found if d.label == "person"]


def test_finds_the_cameraman(coco: Detector, camera_image: np.ndarray) -> None:
    people = _people(coco.detect([camera_image])[0])
    assert len(people) >= 1
    best = people[0]
    assert best.score > 0.6
    assert iou(best.box, CAMERA_PERSON) > 0.6


def test_finds_the_astronaut(coco: Detector, astronaut_image: np.ndarray) -> None:
    people = _people(coco.detect([astronaut_image])[0])
    assert len(people) == 1  # one person; the flag, rocket and helmet are not people
    assert people[0].score > 0.25
    assert iou(people[0].box, ASTRONAUT_PERSON) > 0.6


def test_grey_frame_has_no_detections(coco: Detector) -> None:
    assert coco.detect([np.full((360, 640, 3), 127, np.uint8)]) == [[]]


def test_batch_equals_one_by_one(
    coco: Detector, camera_image: np.ndarray, astronaut_image: np.ndarray
) -> None:
    stats = BatchStats()
    batched = coco.detect([camera_image, astronaut_image, camera_image], stats)
    assert [size for size, _ in stats.batches] == [3]  # one inference call for all three
    single = [coco.detect([img])[0] for img in (camera_image, astronaut_image, camera_image)]
    for got, want in zip(batched, single, strict=True):
        assert [d.label for d in got] == [d.label for d in want]
        np.testing.assert_allclose([d.box for d in got], [d.box for d in want], atol=0.5)
        np.testing.assert_allclose([d.score for d in got], [d.score for d in want], atol=1e-3)


def test_wide_frame_uses_rect_input_and_maps_boxes_back(
    coco: Detector, coco_model: object, camera_image: np.ndarray
) -> None:
    """The cameraman pasted into a 16:9 street-camera frame: found at the pasted place, and the
    cheaper rect input (320x192) finds what the square one (320x320) finds."""
    frame = np.full((720, 1280, 3), 90, np.uint8)
    frame[100:612, 600:1112] = camera_image
    assert coco.net_shape(720, 1280) == (192, 320)
    rect = _people(coco.detect([frame])[0])
    moved = (CAMERA_PERSON[0] + 600, CAMERA_PERSON[1] + 100, CAMERA_PERSON[2] + 600, CAMERA_PERSON[3] + 100)
    assert max(iou(p.box, moved) for p in rect) > 0.6
    square = _people(Detector(YoloDarknetDetector(model=str(coco_model), rect=False)).detect([frame])[0])
    assert len(square) == len(rect)
    np.testing.assert_allclose([p.box for p in rect], [p.box for p in square], atol=4)


def test_region_of_interest_offsets(coco: Detector, camera_image: np.ndarray) -> None:
    frame = np.full((720, 1280, 3), 90, np.uint8)
    frame[100:612, 600:1112] = camera_image
    jobs = region_jobs(frame, [[560.0, 80.0, 1000.0, 640.0], [0.0, 0.0, 5.0, 5.0]])
    assert [j.offset for j in jobs] == [(560, 80), (0, 0)]
    assert jobs[1].image.shape[:2] == (16, 16)  # tiny regions grow to the minimum size
    coco.run(jobs)
    people = _people(coco.merge([j.detections for j in jobs]))
    moved = (CAMERA_PERSON[0] + 600, CAMERA_PERSON[1] + 100, CAMERA_PERSON[2] + 600, CAMERA_PERSON[3] + 100)
    assert people and max(iou(p.box, moved) for p in people) > 0.6
    assert [j.offset for j in region_jobs(frame, [[5, 5, 1, 1]])] == [(0, 0)]  # invalid: whole frame
    assert len(region_jobs(frame, None)) == 1


def test_class_filter(coco_model: object, camera_image: np.ndarray) -> None:
    det = Detector(YoloDarknetDetector(model=str(coco_model), classes=["car"]))
    assert det.detect([camera_image]) == [[]]


def test_missing_provider_falls_back_to_cpu_with_a_log_line(coco_model: object) -> None:
    chain, skipped = provider_chain(["tensorrt", "cuda", "cpu"], ["CPUExecutionProvider"])
    assert chain == [ORT_NAMES["cpu"]] and skipped == ["tensorrt", "cuda"]
    chain, _ = provider_chain(["cuda"], ["CUDAExecutionProvider", "CPUExecutionProvider"], device_id=1)
    assert chain == [("CUDAExecutionProvider", {"device_id": "1"}), "CPUExecutionProvider"]
    with structlog.testing.capture_logs() as logs:
        det = Detector(YoloDarknetDetector(model=str(coco_model), providers=["openvino", "cuda"]))
    assert det.session.get_providers() == ["CPUExecutionProvider"]
    warning = next(e for e in logs if e["event"] == "execution_provider_unavailable")
    assert warning["skipped"] == ["openvino", "cuda"] and warning["fallback"] == ["CPUExecutionProvider"]
