"""The bare bound: one process, N decoders paced to real time, the model on each every 1/fps s.

This is what a hand-written single-process loop gets out of the box: the same decoder
(OpenCV's FFmpeg), the same detector (session, letterbox, NMS) at the same input size, and
none of edged's parts (no ring, no sockets, no motion gate, no tracker, no supervisor). Every
frame is decoded (a live camera sends them all) but only the frame a detection uses is
converted to BGR — the cheapest way to do it. When the loop falls behind, due detections are
missed and counted, exactly like a camera that cannot keep up.
"""

from __future__ import annotations

import dataclasses
import gc
import json
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edged.config.detectors import AnyDetector
from edged.detection.detector import Detector


@dataclass
class BareResult:
    cameras: int
    fps: float  # mean detections per second per camera over the window
    min_fps: float
    missed: int  # due detections that never ran
    cpu_pct: float  # process CPU over the window, % of one core
    rss_mb: float


class _Stream:
    def __init__(self, film: Path, width: int | None) -> None:
        self.film = str(film)
        self.width = width
        self.cap = self._open()
        self.grabbed = 0

    def _open(self) -> cv2.VideoCapture:
        cap = cv2.VideoCapture(self.film, cv2.CAP_FFMPEG)
        if not cap.isOpened():
            raise FileNotFoundError(self.film)
        return cap

    def grab(self) -> None:
        if not self.cap.grab():  # end of the film: start over
            self.cap.release()
            self.cap = self._open()
            self.cap.grab()
        self.grabbed += 1

    def frame(self) -> np.ndarray:
        ok, image = self.cap.retrieve()
        if not ok or image is None:
            raise RuntimeError(f"{self.film}: retrieve failed")
        if self.width and image.shape[1] != self.width:
            h = round(image.shape[0] * self.width / image.shape[1] / 2) * 2
            image = cv2.resize(image, (self.width, h), interpolation=cv2.INTER_AREA)
        return image

    def close(self) -> None:
        self.cap.release()


def bare_bound(
    film: Path,
    cameras: int,
    detector_cfg: AnyDetector,
    fps: float,
    warmup_s: float,
    seconds: float,
    width: int | None = None,
) -> BareResult:
    detector = Detector(detector_cfg)
    streams = [_Stream(film, width) for _ in range(cameras)]
    try:
        cap = streams[0].cap
        h, w = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)) or 360, int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)) or 640
        if width:
            h, w = round(h * width / w / 2) * 2, width
        for _ in range(3):  # first runs allocate; not part of the bound
            detector.detect([np.zeros((h, w, 3), np.uint8)])
        return _loop(detector, streams, fps, warmup_s, seconds)
    finally:
        for s in streams:
            s.close()
        del detector
        gc.collect()


def _loop(
    detector: Detector, streams: list[_Stream], fps: float, warmup_s: float, seconds: float
) -> BareResult:
    src_fps = streams[0].cap.get(cv2.CAP_PROP_FPS) or 25.0
    period = 1.0 / fps
    n = len(streams)
    start = time.monotonic()
    measure_from, end = start + warmup_s, start + warmup_s + seconds
    due = [start + i * period / n for i in range(n)]  # staggered like independent cameras
    counts = [0] * n
    missed = 0
    cpu0: float | None = None
    while True:
        now = time.monotonic()
        if now >= end:
            break
        if cpu0 is None and now >= measure_from:
            cpu0 = time.process_time()
        frames_due = int((now - start) * src_fps) + 1
        for s in streams:
            while s.grabbed < frames_due:
                s.grab()
        for i in sorted(range(n), key=due.__getitem__):
            if time.monotonic() < due[i]:
                continue
            detector.detect([streams[i].frame()])
            if time.monotonic() >= measure_from:
                counts[i] += 1
            due[i] += period
            late = time.monotonic() - due[i]
            if late > period:  # more than a whole period behind: those detections are lost
                skip = int(late // period)
                due[i] += skip * period
                if time.monotonic() >= measure_from:
                    missed += skip
        next_frame = start + frames_due / src_fps
        wait = min(next_frame, *due) - time.monotonic()
        if wait > 0:
            time.sleep(wait)
    cpu = time.process_time() - (cpu0 if cpu0 is not None else time.process_time())
    per_cam = [c / seconds for c in counts]
    return BareResult(
        cameras=n,
        fps=sum(per_cam) / n,
        min_fps=min(per_cam),
        missed=missed,
        cpu_pct=100.0 * cpu / seconds,
        rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
    )


def combine(a: BareResult, b: BareResult) -> BareResult:
    """Two equal windows (one before, one after the pipeline run) as one: load drift cancels."""
    return BareResult(
        cameras=a.cameras,
        fps=(a.fps + b.fps) / 2,
        min_fps=min(a.min_fps, b.min_fps),
        missed=a.missed + b.missed,
        cpu_pct=(a.cpu_pct + b.cpu_pct) / 2,
        rss_mb=max(a.rss_mb, b.rss_mb),
    )


def run_bare(
    film: Path,
    cameras: int,
    detector: dict[str, object],
    fps: float,
    warmup_s: float,
    seconds: float,
    width: int | None,
    nice: int,
) -> BareResult:
    """The bare bound in its own process, at the niceness edged gives its video workers, so both
    sides compete alike with whatever else runs on the box."""
    spec = {
        "film": str(film),
        "cameras": cameras,
        "detector": detector,
        "fps": fps,
        "warmup_s": warmup_s,
        "seconds": seconds,
        "width": width,
    }
    cmd = [sys.executable, "-m", "edged.pipelines.bench.bare", json.dumps(spec)]
    if nice:
        cmd = ["nice", "-n", str(nice), *cmd]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"bare bound failed: {out.stderr[-2000:]}")
    return BareResult(**json.loads(out.stdout.strip().splitlines()[-1]))


def _main(argv: list[str]) -> int:
    from edged.config.detectors import YoloDarknetDetector

    spec = json.loads(argv[0])
    cfg = YoloDarknetDetector.model_validate(spec["detector"])
    result = bare_bound(
        Path(spec["film"]),
        spec["cameras"],
        cfg,
        spec["fps"],
        spec["warmup_s"],
        spec["seconds"],
        spec["width"],
    )
    print(json.dumps(dataclasses.asdict(result)))
    return 0


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
