"""Sources: the ISAPI stand-in camera, UVC Y16 layouts, npz replay (incl. the visible extension)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edged.pipelines.thermal.isapi import IsapiSource, parse_picture
from edged.pipelines.thermal.isapi_sim import BOUNDARY, IsapiStandIn, build_body
from edged.pipelines.thermal.npz import NpzSource, save_npz
from edged.pipelines.thermal.sources import SourceError
from edged.pipelines.thermal.uvc import UvcY16Source, decode_y16


def _scene() -> np.ndarray:
    img = np.full((120, 160), 23.5, np.float32)
    img[10:20, 130:140] = 35.0  # blackbody
    img[50:70, 60:75] = 34.2
    img[58, 66] = 36.71
    return img


@pytest.mark.parametrize("bpp", [4, 2])
def test_isapi_standin_is_parsed_into_the_right_temperatures(bpp: int) -> None:
    # IsapiStandIn stands in for a Hikvision thermography camera: a real HTTP server with digest
    # auth serving jpegPicWithAppendData in the documented multipart layout.
    scene = _scene()
    frozen = [False]
    with IsapiStandIn(lambda: (scene, frozen[0]), "admin", "s3cret", bpp=bpp) as cam:
        source = IsapiSource(f"isapi://admin:s3cret@127.0.0.1:{cam.port}/2", fps=100)
        frame = source.read()
        assert frame is not None and frame.ffc is False
        c = frame.celsius()
        tol = 0.006 if bpp == 4 else 0.051  # centi-kelvin storage; int16 deci-kelvin on the wire
        assert c.shape == (120, 160)
        assert c[58, 66] == pytest.approx(36.71, abs=tol)
        assert c[15, 135] == pytest.approx(35.0, abs=tol)
        assert c[0, 0] == pytest.approx(23.5, abs=tol)
        frozen[0] = True
        assert source.read().ffc is True  # isFreezedata: the camera is not updating
        assert cam.requests == 2
        with pytest.raises(SourceError, match="401"):
            IsapiSource(f"isapi://admin:wrong@127.0.0.1:{cam.port}/2").read()


def test_isapi_truncated_or_inconsistent_answers_are_source_errors() -> None:
    body = build_body(_scene(), False)
    ctype = f"multipart/form-data; boundary={BOUNDARY}"
    assert parse_picture(body, ctype).celsius.shape == (120, 160)
    with pytest.raises(SourceError):
        parse_picture(body[: len(body) // 2], ctype)
    with pytest.raises(SourceError):
        parse_picture(body.replace(b'"jpegPicWidth": 160', b'"jpegPicWidth": 161'), ctype)
    with pytest.raises(SourceError):
        parse_picture(body, "multipart/form-data")


def test_uvc_y16_layouts_are_normalised() -> None:
    ck = np.arange(12, dtype=np.uint16).reshape(3, 4) + 30000
    assert np.array_equal(decode_y16(ck, 4, 3), ck)
    as_bytes = ck.astype("<u2").view(np.uint8).reshape(1, -1)  # what some backends hand back
    assert np.array_equal(decode_y16(as_bytes, 4, 3), ck)
    assert np.array_equal(decode_y16(as_bytes.reshape(3, 8), 4, 3), ck)
    with pytest.raises(SourceError):
        decode_y16(np.zeros((3, 3), np.uint8), 4, 3)


class _StandInCapture:
    """Stands in for cv2.VideoCapture on a PureThermal board (no USB camera on a CI box)."""

    def __init__(self, frames: list[np.ndarray]) -> None:
        self.frames = frames
        self.props: dict[int, float] = {}

    def isOpened(self) -> bool:
        return True

    def set(self, prop: int, value: float) -> bool:
        self.props[prop] = value
        return True

    def get(self, prop: int) -> float:
        import cv2

        return {cv2.CAP_PROP_FRAME_WIDTH: 4.0, cv2.CAP_PROP_FRAME_HEIGHT: 3.0}.get(prop, 0.0)

    def read(self) -> tuple[bool, np.ndarray | None]:
        return (True, self.frames.pop(0)) if self.frames else (False, None)

    def release(self) -> None:
        return None


def test_uvc_source_reads_centikelvin_and_asks_for_raw_y16() -> None:
    import cv2

    ck = np.full((3, 4), 30965, np.uint16)  # 309.65 K = 36.5 °C
    cap = _StandInCapture([ck.view(np.uint8).reshape(1, -1)])
    source = UvcY16Source(0, capture=cap)
    frame = source.read()
    assert frame is not None and frame.celsius()[1, 1] == pytest.approx(36.5, abs=1e-4)
    assert cap.props[cv2.CAP_PROP_CONVERT_RGB] == 0
    with pytest.raises(SourceError):
        source.read()


def test_npz_replay_and_bad_files(tmp_path: Path) -> None:
    frames = np.full((3, 8, 8), 30000, np.uint16)
    save_npz(tmp_path / "ok.npz", frames, np.array([0.0, 0.1, 0.2]) + 5, 0.01, 0.0, np.array([0, 1, 0], bool))
    src = NpzSource(tmp_path / "ok.npz")
    got = list(iter(src.read, None))
    assert [f.t for f in got] == pytest.approx([0.0, 0.1, 0.2])
    assert [f.ffc for f in got] == [False, True, False]
    assert got[0].celsius()[0, 0] == pytest.approx(26.85, abs=1e-4)
    np.savez(tmp_path / "float.npz", frames=frames.astype(np.float32), ts=np.zeros(3))
    with pytest.raises(SourceError, match="uint16"):
        NpzSource(tmp_path / "float.npz")
    np.savez(tmp_path / "pickled.npz", frames=np.array([object()], dtype=object), ts=np.zeros(1))
    with pytest.raises(SourceError):
        NpzSource(tmp_path / "pickled.npz")  # never unpickles
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(SourceError):
        NpzSource(tmp_path / "junk.npz")
