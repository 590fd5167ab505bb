"""How the camera pipeline asks for detections: the shared detector worker, or moving blobs.

Both answer asynchronously through `poll`, so the pipeline's loop is the same either way.
`MotionBlobs` is the detector for cameras without a model (`detection.detector: motion`):
foreground blobs of a slow background become objects of class `object`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from edged.detection.types import Detection
from edged.pipelines.geometry import Box
from edged.pipelines.motion import MotionDetector


@dataclass(slots=True)
class FrameRef:
    slot: int
    seq: int
    t: float
    wall: float
    image: np.ndarray


@dataclass(slots=True)
class LinkResult:
    seq: int
    detections: list[Detection] | None  # None: the request was dropped (reason says why)
    reason: str = ""


class DetectLink(Protocol):
    @property
    def in_flight(self) -> int: ...

    @property
    def has_credit(self) -> bool:
        """Whether `submit` may send now (the detector worker allows 1–2 requests in flight)."""

    def oldest_age(self) -> float:
        """Seconds the oldest request in flight has waited (0 when none): heartbeat progress."""

    def waitable(self) -> Any:
        """The zmq socket replies arrive on (the loop waits on it), or None."""

    def submit(self, ref: FrameRef, rois: list[Box] | None) -> bool:
        """False when the frame is dropped at the source (no credit / detector unavailable)."""

    def poll(self, timeout_s: float) -> list[LinkResult]: ...

    def close(self) -> None: ...


class RemoteDetector:
    """The detector worker over ZeroMQ (edged.detection.client), reading our ring by name."""

    def __init__(self, client: object, ring_name: str) -> None:
        from edged.detection.client import DetectorClient

        assert isinstance(client, DetectorClient)
        self.client = client
        self.ring_name = ring_name
        self._sent: dict[int, float] = {}  # seq -> monotonic submit time

    @property
    def in_flight(self) -> int:
        return int(self.client.in_flight)

    @property
    def has_credit(self) -> bool:
        return bool(self.client.has_credit)  # poll() has expired timed-out requests already

    def oldest_age(self) -> float:
        return time.monotonic() - min(self._sent.values()) if self._sent else 0.0

    def waitable(self) -> Any:
        return self.client.socket

    def submit(self, ref: FrameRef, rois: list[Box] | None) -> bool:
        boxes = [list(b) for b in rois] if rois else None
        ok = bool(self.client.submit(self.ring_name, ref.slot, ref.seq, ref.wall, boxes))
        if ok:
            self._sent[ref.seq] = time.monotonic()
        return ok

    def poll(self, timeout_s: float) -> list[LinkResult]:
        out: list[LinkResult] = []
        for res in self.client.poll(timeout_s):
            self._sent.pop(res.seq, None)
            if res.dropped is not None:
                out.append(LinkResult(res.seq, None, res.dropped))
            else:
                out.append(LinkResult(res.seq, res.detections))
        return out

    def close(self) -> None:
        self.client.close()


class _SyncLink:
    """A link answered inside `submit`: always has credit, nothing waits, results wait for `poll`."""

    def __init__(self) -> None:
        self._ready: list[LinkResult] = []

    @property
    def in_flight(self) -> int:
        return len(self._ready)

    @property
    def has_credit(self) -> bool:
        return True

    def oldest_age(self) -> float:
        return 0.0

    def waitable(self) -> Any:
        return None

    def poll(self, timeout_s: float) -> list[LinkResult]:
        out, self._ready = self._ready, []
        return out

    def close(self) -> None:
        self._ready = []


class MotionBlobs(_SyncLink):
    """Moving blobs as detections (label `object`, index 0 of a one-label list), computed on submit."""

    def __init__(self, masks: list[list[tuple[float, float]]], min_area: float = 0.001) -> None:
        super().__init__()
        self.motion = MotionDetector(width=640, threshold=30, min_area=min_area, alpha=0.01, masks=masks)

    def submit(self, ref: FrameRef, rois: list[Box] | None) -> bool:
        boxes = self.motion.update(ref.image)
        self._ready.append(LinkResult(ref.seq, [Detection(0, "object", 0.9, b) for b in boxes]))
        return True


class LocalDetector(_SyncLink):
    """The detector in this process, answered synchronously: offline runs (`run_file`) and evaluation.

    Same regions, letterbox, model and NMS as the detector worker (edged.detection.detector).
    """

    def __init__(self, detector: object) -> None:
        from edged.detection.detector import Detector

        assert isinstance(detector, Detector)
        super().__init__()
        self.detector = detector

    def submit(self, ref: FrameRef, rois: list[Box] | None) -> bool:
        from edged.detection.detector import region_jobs

        jobs = region_jobs(ref.image, [list(b) for b in rois] if rois else None)
        self.detector.run(jobs)
        found = self.detector.merge([j.detections for j in jobs])
        self._ready.append(LinkResult(ref.seq, found))
        return True
