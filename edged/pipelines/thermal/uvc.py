"""UVC radiometric cameras delivering Y16 through OpenCV (FLIR Lepton/Boson via PureThermal).

PureThermal firmware in TLinear mode sends centi-kelvin per pixel, so the default map is
``kelvin = counts * 0.01``. OpenCV must be told not to convert to BGR; depending on the backend
the 16-bit frame then arrives as H x W uint16 or as raw bytes (1 x 2HW or H x 2W uint8), which
`decode_y16` normalises. UVC carries no shutter flag, so FFC is left to the freeze detector.
"""

from __future__ import annotations

import time
from typing import Any

import cv2
import numpy as np

from edged.pipelines.thermal.frame import ThermalFrame
from edged.pipelines.thermal.sources import SourceError

Y16 = cv2.VideoWriter.fourcc("Y", "1", "6", " ")


def decode_y16(raw: np.ndarray, width: int, height: int) -> np.ndarray:
    """The uint16 H x W image in whatever layout OpenCV returned it."""
    if raw.dtype == np.uint16 and raw.ndim == 2:
        return raw
    if raw.dtype == np.uint8 and raw.size == width * height * 2:
        return np.ascontiguousarray(raw).reshape(-1).view("<u2").reshape(height, width)
    if raw.dtype == np.uint16 and raw.size == width * height:
        return raw.reshape(height, width)
    raise SourceError(f"unexpected Y16 frame {raw.dtype} {raw.shape} for {width}x{height}")


class UvcY16Source:
    def __init__(
        self, device: int | str, *, gain: float = 0.01, offset: float = 0.0, capture: Any = None
    ) -> None:
        # `capture` lets a test hand in a stand-in object with the VideoCapture API (no USB camera here).
        self.gain = gain
        self.offset = offset
        self.device = device
        self.cap = capture if capture is not None else cv2.VideoCapture(device, cv2.CAP_V4L2)
        if not self.cap.isOpened():
            raise SourceError(f"cannot open UVC device {device}")
        self.cap.set(cv2.CAP_PROP_FOURCC, Y16)
        self.cap.set(cv2.CAP_PROP_CONVERT_RGB, 0)
        self.width = int(self.cap.get(cv2.CAP_PROP_FRAME_WIDTH))
        self.height = int(self.cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        self._t0 = time.monotonic()
        self._index = 0

    def read(self) -> ThermalFrame | None:
        ok, raw = self.cap.read()
        if not ok or raw is None:
            raise SourceError(f"UVC device {self.device}: no frame")
        counts = decode_y16(np.asarray(raw), self.width, self.height)
        frame = ThermalFrame(
            counts=counts,
            gain=self.gain,
            offset=self.offset,
            t=time.monotonic() - self._t0,
            wall=time.time(),
            index=self._index,
            ffc=None,
        )
        self._index += 1
        return frame

    def close(self) -> None:
        self.cap.release()
