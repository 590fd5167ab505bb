"""What a camera pipeline hands its analytics, and what an analytic must provide.

The same analytic object runs live in the camera worker and offline in `edged analyze`, so
it sees only `Frame`s and returns events; it never touches sockets.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
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


class VideoFile:
    """Every frame of a video file, on the clip's clock (offline analysis, tests, benchmarks).

    The file's own frame rate sets the clock when it is plausible (1–240 fps), else `fps`.
    """

    def __init__(self, path: str | Path, fps: float) -> None:
        import cv2

        self._cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
        if not self._cap.isOpened():
            raise FileNotFoundError(f"cannot open video {path}")
        file_fps = self._cap.get(cv2.CAP_PROP_FPS)
        self.fps = file_fps if 1.0 <= file_fps <= 240.0 else fps
        self.frames = 0

    def __iter__(self) -> Iterator[Frame]:
        wall0 = time.time()
        try:
            while True:
                ok, image = self._cap.read()
                if not ok:
                    return
                t = self.frames / self.fps
                yield Frame(image, self.frames, t, wall0 + t)
                self.frames += 1
        finally:
            self._cap.release()
