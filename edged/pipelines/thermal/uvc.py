"""UVC radiometric cameras delivering Y16 through OpenCV (FLIR Lepton/Boson via PureThermal).

PureThermal firmware in TLinear mode sends centi-kelvin per pixel, so the default map is
``kelvin = counts * 0.01``. OpenCV must be told not to convert to BGR; depending on the backend
the 16-bit frame then arrives as H x W uint16 or as raw bytes (1 x 2HW or H x 2W uint8), which
`decode_y16` normalises.

UVC itself carries no shutter flag, so by default FFC is left to the freeze detector. A Lepton
can send its telemetry lines with the image (`thermal.telemetry: footer|header`; PureThermal
firmware puts them in the footer, and its Y16 frame is then 160x122 for a Lepton 3.x, 80x63
for a 2.x). Row A's status bits carry the FFC state, which is the shutter flag itself.
"""

from __future__ import annotations

import time
from typing import Any, Literal

import cv2
import numpy as np
import structlog

from edged.pipelines.thermal import metrics as m
from edged.pipelines.thermal.frame import ThermalFrame
from edged.pipelines.thermal.sources import SourceError

Y16 = cv2.VideoWriter.fourcc("Y", "1", "6", " ")
Telemetry = Literal["none", "header", "footer"]

# Lepton Engineering Datasheet 500-0659-00-09 rev 203, "Telemetry Modes": three lines (A, B, C) of
# 80 16-bit words. A Lepton 3.x packs them, with a reserved fourth, into 2 rows of its 160-wide
# frame; a Lepton 2.x sends 3 rows of 80. Width -> (telemetry rows, image rows).
LEPTON_LAYOUT = {160: (2, 120), 80: (3, 60)}
ROW_A_WORDS = 80
# Row A words 3-4: status bits, a 32-bit value sent least significant word first (Table 3).
FFC_NEVER_COMMANDED, FFC_IMMINENT, FFC_IN_PROGRESS, FFC_COMPLETE = 0, 1, 2, 3
_STATUS_DEFINED = (1 << 3) | (3 << 4) | (1 << 12) | (1 << 15) | (1 << 20)  # FFC desired, FFC state,
# AGC state, shutter lockout, overtemp shutdown imminent; every other bit is reserved (zero)


def decode_y16(raw: np.ndarray, width: int, height: int) -> np.ndarray:
    """The uint16 H x W image in whatever layout OpenCV returned it."""
    if raw.dtype == np.uint16 and raw.ndim == 2:
        return raw
    if raw.dtype == np.uint8 and raw.size == width * height * 2:
        return np.ascontiguousarray(raw).reshape(-1).view("<u2").reshape(height, width)
    if raw.dtype == np.uint16 and raw.size == width * height:
        return raw.reshape(height, width)
    raise SourceError(f"unexpected Y16 frame {raw.dtype} {raw.shape} for {width}x{height}")


def split_telemetry(frame: np.ndarray, where: Telemetry, rows: int) -> tuple[np.ndarray, np.ndarray]:
    """(image rows, telemetry words as one flat uint16 array starting with row A)."""
    if where == "header":
        return frame[rows:], frame[:rows].reshape(-1)
    return frame[:-rows], frame[-rows:].reshape(-1)


def lepton_ffc_state(words: np.ndarray) -> int | None:
    """FFC state (0 never commanded, 1 imminent, 2 in progress, 3 complete) from row A, or None
    when the words cannot be telemetry: all zero, or reserved status bits set, which is what image
    pixels (a wrong header/footer setting) or a garbled transfer look like."""
    if words.size < ROW_A_WORDS or not words[:ROW_A_WORDS].any():
        return None
    status = int(words[3]) | int(words[4]) << 16
    if status & ~_STATUS_DEFINED:
        return None
    return (status >> 4) & 3


def shutter_from_ffc_state(state: int) -> bool:
    """Only "in progress" means the shutter is in view (closing, closed, or the image re-settling).
    "Imminent" is the Lepton's ~2 s warning before an automatic FFC (52 frames at 26 Hz by
    default): the shutter is still open and the image valid, so skipping it would throw away 2 s
    of every FFC period for nothing. The gate's `ffc_settle_s` covers the frames after "complete"."""
    return state == FFC_IN_PROGRESS


class UvcY16Source:
    def __init__(
        self,
        device: int | str,
        *,
        gain: float = 0.01,
        offset: float = 0.0,
        capture: Any = None,
        telemetry: Telemetry = "none",
        camera: str = "",
    ) -> None:
        # `capture` lets a test hand in a stand-in object with the VideoCapture API (no USB camera here).
        self.gain = gain
        self.offset = offset
        self.device = device
        self.telemetry = telemetry
        self.camera = camera
        self._log = structlog.get_logger("edged.thermal").bind(camera=camera)
        self._warned = False
        self.cap = capture if capture is not None else cv2.VideoCapture(device, cv2.CAP_V4L2)
        if not self.cap.isOpened():
            raise SourceError(f"cannot open UVC device {device}")
        self.cap.set(cv2.CAP_PROP_FOURCC, Y16)
        self.cap.set(cv2.CAP_PROP_CONVERT_RGB, 0)
        self.width = int(self.cap.get(cv2.CAP_PROP_FRAME_WIDTH))
        self.height = int(self.cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        self._telemetry_rows = 0
        if telemetry != "none":
            try:
                self._ask_for_telemetry_rows()
            except SourceError:
                self.cap.release()
                raise
        self._t0 = time.monotonic()
        self._index = 0

    def _ask_for_telemetry_rows(self) -> None:
        """Select the frame size with the telemetry rows (PureThermal offers 160x120 and 160x122)."""
        if self.width not in LEPTON_LAYOUT:
            raise SourceError(
                f"UVC device {self.device}: telemetry rows are a Lepton feature (80 or 160 wide), "
                f"not {self.width}x{self.height}"
            )
        rows, image_rows = LEPTON_LAYOUT[self.width]
        if self.height != image_rows + rows:
            self.cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.width)
            self.cap.set(cv2.CAP_PROP_FRAME_HEIGHT, image_rows + rows)
            self.height = int(self.cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        if self.height != image_rows + rows:
            raise SourceError(
                f"UVC device {self.device} sends {self.width}x{self.height}, not the "
                f"{self.width}x{image_rows + rows} frame with telemetry rows"
            )
        self._telemetry_rows = rows

    def read(self) -> ThermalFrame | None:
        ok, raw = self.cap.read()
        if not ok or raw is None:
            raise SourceError(f"UVC device {self.device}: no frame")
        counts = decode_y16(np.asarray(raw), self.width, self.height)
        ffc: bool | None = None
        if self._telemetry_rows:
            counts, words = split_telemetry(counts, self.telemetry, self._telemetry_rows)
            state = lepton_ffc_state(words)
            if state is None:
                self._unparseable(words)
            else:
                ffc = shutter_from_ffc_state(state)
        frame = ThermalFrame(
            counts=counts,
            gain=self.gain,
            offset=self.offset,
            t=time.monotonic() - self._t0,
            wall=time.time(),
            index=self._index,
            ffc=ffc,
        )
        self._index += 1
        return frame

    def _unparseable(self, words: np.ndarray) -> None:
        """Counted; the frame goes on with ffc=None, so the freeze detector decides."""
        m.TELEMETRY_ERRORS.labels(camera=self.camera).inc()
        if not self._warned:
            self._warned = True
            status = int(words[3]) | int(words[4]) << 16 if words.size > 4 else 0
            self._log.warning(
                "Lepton telemetry row not parseable; FFC left to the freeze detector",
                location=self.telemetry,
                status=f"0x{status:08x}",
            )

    def close(self) -> None:
        self.cap.release()
