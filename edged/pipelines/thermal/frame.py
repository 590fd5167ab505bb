"""The one internal thermal frame every source produces (npz replay, UVC Y16, Hikvision ISAPI).

Radiometric data stays as the camera's raw uint16 counts plus the linear map to kelvin
(``kelvin = counts * gain + offset``), so replays are bit-exact and nothing is rounded twice.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

KELVIN_0C = 273.15


@dataclass(slots=True)
class ThermalFrame:
    counts: np.ndarray  # H x W uint16 raw counts
    gain: float  # kelvin per count
    offset: float  # kelvin at count 0
    t: float  # seconds on the stream clock (clip-relative for files)
    wall: float  # time.time() at capture
    index: int = 0
    ffc: bool | None = None  # shutter / flat-field correction in progress; None: source cannot tell
    visible: np.ndarray | None = None  # co-registered visible frame, H' x W' x 3 uint8 BGR
    homography: np.ndarray | None = None  # 3 x 3, visible pixel -> thermal pixel

    def celsius(self) -> np.ndarray:
        """The camera's own temperature reading (before blackbody correction), float32 °C."""
        return (self.counts.astype(np.float32) * np.float32(self.gain)) + np.float32(self.offset - KELVIN_0C)

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.counts.shape[0]), int(self.counts.shape[1])


def to_counts(celsius: np.ndarray, gain: float = 0.01, offset: float = 0.0) -> np.ndarray:
    """Encode °C as uint16 counts (default centi-kelvin, the PureThermal/Lepton TLinear format)."""
    counts = np.rint((np.asarray(celsius, dtype=np.float64) + KELVIN_0C - offset) / gain)
    return np.clip(counts, 0, 65535).astype(np.uint16)
