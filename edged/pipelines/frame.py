"""What a camera pipeline hands its analytics, and what an analytic must provide.

The same analytic object runs live in the camera worker and offline in `edged analyze`, so
it sees only `Frame`s and returns events; it never touches sockets.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from edged.events import Event


@dataclass(slots=True)
class Frame:
    image: np.ndarray  # H x W x 3 uint8, BGR (OpenCV order)
    index: int  # frame number since the source opened
    t: float  # seconds on the stream clock (clip-relative for files, pts for streams)
    wall: float  # time.time() when the frame was captured


class VideoAnalytic(Protocol):
    name: str

    def process(self, frame: Frame) -> list[Event]:
        """Consume one frame; return the events it completes (often none)."""

    def close(self) -> list[Event]:
        """End of stream or worker stop: return events still pending (e.g. a fall in progress)."""
