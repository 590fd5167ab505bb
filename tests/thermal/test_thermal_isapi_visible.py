"""ISAPI dual-spectrum: `thermal.visible` registers the camera's visible JPEG, and the screening
finds the face on it at the homography-mapped thermal place.

IsapiStandIn stands in for the Hikvision camera (a real HTTP server with digest auth; there is no
camera here). A cartoon face drawn with OpenCV (skin ellipse, eyes, brows, mouth) is not found by
CenterFace, which was trained on photographs, so the visible scene is synthetic with a photographed
face (skimage's astronaut) pasted at a known place; the real CenterFace model runs on it.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from prometheus_client import REGISTRY
from pydantic import ValidationError
from skimage import data as skdata
from structlog.testing import capture_logs

from edged.config.camera import CameraConfig
from edged.config.thermal import ThermalConfig
from edged.pipelines.thermal.centerface import CenterFace
from edged.pipelines.thermal.faces import canthus_box
from edged.pipelines.thermal.isapi import IsapiSource
from edged.pipelines.thermal.isapi_sim import IsapiStandIn
from edged.pipelines.thermal.screening import ThermalScreening
from edged.pipelines.thermal.sources import open_source

# visible 640x480 -> thermal 160x120, with a little rotation and perspective (a real rig's parallax)
H_TRUE = np.array([[0.22, 0.01, 12.0], [-0.006, 0.23, 6.0], [2e-5, 1e-5, 1.0]])
CROP = (120, 20, 200, 220)  # x, y, w, h of the astronaut photo pasted (face and shoulders)
PASTE = (330, 150)  # where the crop's top-left lands in the visible scene


def _map(pts: np.ndarray) -> np.ndarray:
    return cv2.perspectiveTransform(np.asarray(pts, np.float64).reshape(-1, 1, 2), H_TRUE).reshape(-1, 2)


def _visible_scene() -> np.ndarray:
    rng = np.random.default_rng(5)
    scene = np.clip(rng.normal(110, 12, (480, 640, 3)), 0, 255).astype(np.uint8)  # textured wall
    cv2.rectangle(scene, (40, 60), (200, 400), (60, 70, 80), -1)  # a door
    x, y, w, h = CROP
    astronaut = cv2.cvtColor(skdata.astronaut(), cv2.COLOR_RGB2BGR)
    scene[PASTE[1] : PASTE[1] + h, PASTE[0] : PASTE[0] + w] = astronaut[y : y + h, x : x + w]
    return scene


@pytest.fixture(scope="module")
def truth() -> dict[str, np.ndarray]:
    """The face's place in the scene: CenterFace on the original photograph, shifted by the paste."""
    [det] = CenterFace().detect(cv2.cvtColor(skdata.astronaut(), cv2.COLOR_RGB2BGR))
    shift = np.array([PASTE[0] - CROP[0], PASTE[1] - CROP[1]], np.float64)
    bx, by, bw, bh = det.box
    box = np.array([[bx, by], [bx + bw, by], [bx + bw, by + bh], [bx, by + bh]]) + shift
    return {"box": _map(box), "landmarks": _map(det.landmarks + shift)}


def _thermal_scene(truth: dict[str, np.ndarray]) -> np.ndarray:
    celsius = np.full((120, 160), 23.0, np.float32)
    celsius[6:20, 140:154] = 35.0  # blackbody
    face = np.round(truth["box"]).astype(np.int32)
    cv2.fillConvexPoly(celsius, face, 34.0)
    x0, y0 = face.min(axis=0)
    x1 = face.max(axis=0)[0]
    celsius[y0 : y0 + 2, x0 + 3 : x1 - 3] = 36.9  # a hot forehead band (a heated cap)
    cx, cy, cw, ch = canthus_box(truth["landmarks"])
    mx, my = round(cx + cw / 2), round(cy + ch / 2)
    celsius[my - 1 : my + 2, mx - 2 : mx + 3] = 35.9  # the inner canthi
    return celsius


def _points() -> list[list[float]]:
    """What a commissioning survey gives: visible (x, y) -> thermal (x, y), 5 spread points."""
    vis = np.array([[20, 20], [620, 30], [610, 460], [30, 450], [320, 240]], np.float64)
    return [[*v, *np.round(t, 2)] for v, t in zip(vis.tolist(), _map(vis).tolist(), strict=True)]


def _camera(port: int, visible: dict | None) -> CameraConfig:
    thermal: dict = {
        "blackbody": {"roi": [143, 9, 8, 8], "set_point_c": 35.0},
        "decide_after_s": 0.3,
    }
    if visible is not None:
        thermal["visible"] = visible
    return CameraConfig.model_validate(
        {"id": "gate-vis", "source": f"isapi://admin:pw@127.0.0.1:{port}/2", "fps": 30, "thermal": thermal}
    )


def _errors(reason: str) -> float:
    labels = {"camera": "gate-vis", "reason": reason}
    return REGISTRY.get_sample_value("edged_thermal_visible_errors_total", labels) or 0.0


def test_points_give_the_homography_and_the_face_is_found_where_it_maps(
    tmp_path: Path, truth: dict[str, np.ndarray]
) -> None:
    celsius, visible = _thermal_scene(truth), _visible_scene()
    with IsapiStandIn(lambda: (celsius, False), "admin", "pw", visible=lambda: visible) as cam:
        camera = _camera(cam.port, {"points": _points()})
        assert camera.thermal is not None and camera.thermal.visible is not None
        np.testing.assert_allclose(camera.thermal.visible.matrix(), H_TRUE, rtol=1e-3, atol=1e-3)
        source = open_source(camera)
        screening = ThermalScreening(camera, tmp_path / "evidence")
        frames = []
        while (frame := source.read()) is not None and frame.t < 1.0:
            assert frame.visible is not None and frame.visible.shape == (480, 640, 3)
            assert frame.homography is not None
            frames.append(frame)
            screening.process(frame)
        screening.close()
        source.close()
    assert len(frames) >= 8
    faces = screening.finder.find(
        cv2.blur(frames[-1].celsius(), (3, 3)), frames[-1].visible, frames[-1].homography
    )
    [face] = [f for f in faces if f.source == "visible"]
    want = truth["box"]
    centre = np.array([face.box[0] + face.box[2] / 2, face.box[1] + face.box[3] / 2])
    assert np.hypot(*(centre - want.mean(axis=0))) < 2.0  # thermal px, after JPEG and a 320 px detector pass
    assert face.box[2] == pytest.approx(np.ptp(want[:, 0]), rel=0.2)
    [reading] = screening.readings
    assert reading.skin_c == pytest.approx(35.9, abs=0.02)  # the canthus the visible eyes point at,
    assert reading.body_c == pytest.approx(37.1, abs=0.02)  # not the 36.9 forehead band


def test_without_registration_the_visible_picture_is_not_used(truth: dict[str, np.ndarray]) -> None:
    celsius, visible = _thermal_scene(truth), _visible_scene()
    with IsapiStandIn(lambda: (celsius, False), "admin", "pw", visible=lambda: visible) as cam:
        frame = open_source(_camera(cam.port, None)).read()
    assert frame is not None and frame.visible is None and frame.homography is None


def test_corrupt_or_missing_visible_jpeg_is_counted_and_the_frame_goes_on_thermal_only(
    truth: dict[str, np.ndarray],
) -> None:
    celsius = _thermal_scene(truth)
    answer: list[bytes | None] = [b"\xff\xd8\xff\xe0 not really a jpeg"]
    before = {r: _errors(r) for r in ("corrupt", "missing")}
    with (
        IsapiStandIn(lambda: (celsius, False), "admin", "pw", visible=lambda: answer[0]) as cam,
        capture_logs() as logs,
    ):
        source = IsapiSource(
            f"isapi://admin:pw@127.0.0.1:{cam.port}/2", fps=100, camera="gate-vis", homography=H_TRUE
        )
        got = [source.read() for _ in range(3)]
        answer[0] = None  # a thermal-only answer although a registration is configured
        got.append(source.read())
    for frame in got:
        assert frame is not None and frame.visible is None and frame.homography is None
        assert frame.celsius()[60, 5] == pytest.approx(23.0, abs=0.006)  # the temperatures still arrive
    assert _errors("corrupt") - before["corrupt"] == 3
    assert _errors("missing") - before["missing"] == 1
    warned = [e.get("reason") for e in logs if e["log_level"] == "warning"]
    assert warned == ["corrupt", "missing"]  # once per reason, not per frame


@pytest.mark.parametrize(
    ("visible", "message"),
    [
        ({"points": [[0, 0, 10, 5], [100, 0, 20, 5], [200, 0, 30, 5], [0, 480, 10, 125]]}, "on a line"),
        (
            {
                "points": [
                    [0, 0, 10, 5],
                    [640, 0, 170, 5],
                    [640, 480, 170, 125],
                    [0, 480, 10, 125],
                    [320, 240, 120, 65],
                ]
            },
            r"points disagree: a point is .* off the fit of the others",
        ),
        (  # a 10 px typo in a corner among 6 points
            {
                "points": [
                    [0, 0, 10, 5],
                    [640, 0, 180, 5],
                    [640, 480, 170, 125],
                    [0, 480, 10, 125],
                    [320, 240, 90, 65],
                    [160, 120, 50, 35],
                ]
            },
            "points disagree",
        ),
        ({"points": [[0, 0, 10, 5], [0, 0, 20, 5], [640, 480, 170, 125], [0, 480, 10, 125]]}, "repeated"),
        ({"homography": [[1, 2, 3], [2, 4, 6], [0, 0, 1]]}, "singular"),
        ({"homography": [[1, 0, 0], [0, 1, 0]]}, "homography"),
        ({}, "exactly one"),
        ({"homography": [[1, 0, 0], [0, 1, 0], [0, 0, 1]], "points": _points()}, "exactly one"),
    ],
)
def test_bad_registrations_are_config_errors(visible: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ThermalConfig.model_validate({"visible": visible})
