"""Plate camera reads for the gates worker: newest ring frame in, OCR on one thread, results out.

Frames are not decoded twice: the gates worker attaches read-only to the plate camera's
shared-memory ring (design.md "pixels move once") and copies only the newest frame when a
vehicle is on the loop. OCR takes hundreds of milliseconds of CPU, so it runs on one thread of
its own (onnxruntime releases the GIL) and the barrier loop never waits for it; results come
back through a queue and are decided on the loop's thread like any other plate.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import structlog

from edged.config.gates import CheckpointConfig
from edged.gates.metrics import PLATE_READ_SECONDS, PLATE_READS
from edged.gates.plates import PlateRead, PlateReader
from edged.pipelines.ring import DEFAULT_SHM_DIR, RingCache, RingError, ring_name

_log = structlog.get_logger("edged.gates.plates")


class FrameUnavailable(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason  # no_frame (camera not running / no ring), stale (camera stalled)


class RingFrames:
    """The newest frame of a camera's ring; re-attaches when the camera worker restarts."""

    def __init__(
        self, namespace: str, shm_dir: Path = DEFAULT_SHM_DIR, wall: Callable[[], float] = time.time
    ) -> None:
        self.namespace = namespace
        self._rings = RingCache(shm_dir, limit=16)
        self._wall = wall

    def latest(self, camera: str, max_age_s: float) -> np.ndarray:
        try:
            ring = self._rings.get(ring_name(camera, self.namespace))
        except (OSError, RingError, ValueError) as exc:
            raise FrameUnavailable("no_frame") from exc
        for _ in range(3):  # the writer may overwrite the newest slot while it is copied
            seq = ring.last_seq
            if seq <= 0:
                raise FrameUnavailable("no_frame")
            slot = (seq - 1) % ring.slots
            when = ring.frame_time(slot, seq)
            frame = ring.read(slot, seq)
            if frame is not None and when is not None:
                if self._wall() - when[1] > max_age_s:
                    raise FrameUnavailable("stale")
                return frame
        raise FrameUnavailable("no_frame")

    def close(self) -> None:
        self._rings.close()


@dataclass(frozen=True)
class PlateResult:
    checkpoint: str
    camera: str
    read: PlateRead
    seconds: float  # OCR wall time
    vehicle: int = 0  # which arrival on the loop it was read for (see PlateFeed.arrived)


_Job = tuple[CheckpointConfig, np.ndarray, int]


class PlateFeed:
    """Reads each vehicle's plate up to `plate.attempts` times while it stays on the loop."""

    def __init__(self, checkpoints: Iterable[CheckpointConfig], frames: RingFrames, threads: int = 1) -> None:
        self.cfgs = {c.id: c for c in checkpoints if c.kind == "vehicle" and c.plate_camera}
        self.frames = frames
        self.threads = threads
        self._due: dict[str, tuple[float, int]] = {}  # checkpoint -> (next read, attempts left)
        self._busy: set[str] = set()
        self._jobs: queue.Queue[_Job | None] = queue.Queue(maxsize=max(1, len(self.cfgs)))
        self._done: queue.Queue[PlateResult] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._last: dict[str, str] = {}  # last result per checkpoint: log a drop once per change
        # arrivals per checkpoint: a read finished after its vehicle left belongs to nobody
        self._vehicle: dict[str, int] = dict.fromkeys(self.cfgs, 0)

    def start(self) -> None:
        if self.cfgs and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="gates-plates", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            with contextlib.suppress(queue.Empty):  # reads not started yet are not wanted now
                while True:
                    self._jobs.get_nowait()
            with contextlib.suppress(queue.Full):
                self._jobs.put_nowait(None)
            self._thread.join(timeout=2.0)  # a thread still in OCR is a daemon: it goes with us
            self._thread = None
        self.frames.close()

    def arrived(self, checkpoint: str, now: float) -> None:
        """A vehicle drove onto the loop: read at once."""
        cfg = self.cfgs.get(checkpoint)
        if cfg is not None:
            self._vehicle[checkpoint] += 1
            self._due[checkpoint] = (now, cfg.plate.attempts)

    def left(self, checkpoint: str) -> None:
        if checkpoint in self._vehicle:
            self._vehicle[checkpoint] += 1
        self._due.pop(checkpoint, None)

    def poll(self, now: float) -> list[PlateResult]:
        """Finished reads (every result counted); submits the reads that are due."""
        out: list[PlateResult] = []
        while True:
            try:
                res = self._done.get_nowait()
            except queue.Empty:
                break
            self._busy.discard(res.checkpoint)
            PLATE_READ_SECONDS.observe(res.seconds)
            if res.vehicle != self._vehicle.get(res.checkpoint):
                self._count(res.checkpoint, "gone", res.read.text)  # its vehicle left meanwhile
                continue
            self._count(res.checkpoint, res.read.result, res.read.text)
            if res.read.result == "read":
                self._due.pop(res.checkpoint, None)  # decided: no more reads for this vehicle
                out.append(res)
        for cp_id, (t, left) in list(self._due.items()):
            if t > now or cp_id in self._busy:
                continue
            cfg = self.cfgs[cp_id]
            self._due[cp_id] = (now + cfg.plate.retry_s, left - 1)
            if left <= 1:
                del self._due[cp_id]
            self._submit(cfg)
        return out

    def _submit(self, cfg: CheckpointConfig) -> None:
        assert cfg.plate_camera is not None
        try:
            frame = self.frames.latest(cfg.plate_camera, cfg.plate.max_frame_age_s)
        except FrameUnavailable as exc:
            self._count(cfg.id, exc.reason, "")
            return
        try:
            self._jobs.put_nowait((cfg, frame, self._vehicle[cfg.id]))
        except queue.Full:
            self._count(cfg.id, "busy", "")
            return
        self._busy.add(cfg.id)

    def _count(self, checkpoint: str, result: str, text: str) -> None:
        PLATE_READS.labels(checkpoint=checkpoint, result=result).inc()
        if result != "read" and self._last.get(checkpoint) != result:
            _log.warning("plate not read", checkpoint=checkpoint, result=result, text=text)
        self._last[checkpoint] = result

    def _run(self) -> None:
        reader: PlateReader | None = None
        try:
            reader = PlateReader(threads=self.threads)
        except Exception as exc:  # a missing or broken rapidocr: every read is an error, none crashes
            _log.error("plate reader unavailable", error=repr(exc))
        while True:
            job = self._jobs.get()
            if job is None:
                return
            cfg, frame, vehicle = job
            t0 = time.perf_counter()
            try:
                if reader is None:
                    raise RuntimeError("plate reader unavailable")
                read = reader.read(frame, cfg.plate.roi, cfg.plate.min_confidence)
            except Exception as exc:
                _log.error("plate read failed", checkpoint=cfg.id, error=repr(exc))
                read = PlateRead("error")
            assert cfg.plate_camera is not None
            self._done.put(PlateResult(cfg.id, cfg.plate_camera, read, time.perf_counter() - t0, vehicle))
