"""The detector's serving loop: one ROUTER for all cameras, batching across them.

A cycle: wait for the first request, keep collecting for ``batch_window_s`` (or until
``max_batch`` requests), then answer every request of the cycle. Requests older than
``stale_after_s`` since capture, or whose ring slot the camera already reused, are answered
``dropped`` without inference (and counted): the camera's credit comes back at once and the
detector never spends CPU on a frame nobody will use. Pixels are read through the ring's
seqlock and letterboxed straight from shared memory (no full-frame copy).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import structlog
import zmq

from edged.bus.envelope import MalformedMessage, pack, unpack
from edged.bus.malformed import MalformedCounter
from edged.bus.sockets import make_socket
from edged.detection import metrics
from edged.detection.detector import BatchStats, Detector, Job, region_jobs
from edged.detection.protocol import (
    DETECTIONS,
    DROPPED,
    REQUEST_KINDS,
    DetectRequest,
    detections_body,
    dropped_body,
)
from edged.pipelines.ring import DEFAULT_SHM_DIR, RingCache, RingError

_EMPTY = np.zeros((0, 0, 3), np.uint8)
CYCLE_BUDGET_S = 1.0  # inference seconds between heartbeats when a batch must be split


@dataclass
class _Pending:
    identity: bytes
    req: DetectRequest
    t_recv: float  # monotonic


_Work = list[tuple[_Pending, list[Job]]]  # requests with their prepared jobs


class DetectorServer:
    def __init__(
        self,
        detector: Detector,
        zctx: zmq.Context[zmq.Socket[bytes]],
        endpoint: str,
        shm_dir: Path = DEFAULT_SHM_DIR,
    ) -> None:
        self.detector = detector
        self.name = detector.cfg.name
        self.cfg = detector.cfg
        self.sock = make_socket(zctx, zmq.ROUTER)
        self.sock.bind(endpoint)
        self.endpoint = endpoint
        self.rings = RingCache(shm_dir)
        self.malformed = MalformedCounter(f"detector:{self.name}")
        self.pending: list[_Pending] = []
        self.served = 0
        self.log = structlog.get_logger("edged.detector").bind(detector=self.name)
        self._m_requests = metrics.REQUESTS.labels(detector=self.name)
        self._m_infer = metrics.INFERENCE_SECONDS.labels(detector=self.name)
        self._m_batch = metrics.BATCH_SIZE.labels(detector=self.name)
        self._m_queue = metrics.QUEUE_WAIT_SECONDS.labels(detector=self.name)
        self._last_error_log = -float("inf")
        self._beat: Callable[..., None] | None = None
        self._per_image_s = 0.0  # moving average of inference seconds per image (chunk sizing)

    def serve(self, stopping: threading.Event, beat: Callable[..., None] | None = None) -> None:
        self._beat = beat
        while not stopping.is_set():
            self.step(0.2)
            if beat is not None:
                beat(served=self.served)

    def step(self, idle_wait_s: float) -> None:
        """Receive for at most ``idle_wait_s`` (less while a batch window is open); answer a due batch."""
        if self.pending:
            wait = max(0.0, self.pending[0].t_recv + self.cfg.batch_window_s - time.monotonic())
        else:
            wait = idle_wait_s
        if self.sock.poll(int(wait * 1000) if wait > 0 else 0):
            self._drain()
        if not self.pending:
            return
        due = time.monotonic() >= self.pending[0].t_recv + self.cfg.batch_window_s
        if due or len(self.pending) >= self.cfg.max_batch:
            batch, self.pending = self.pending[: self.cfg.max_batch], self.pending[self.cfg.max_batch :]
            self._answer(batch)

    def _drain(self) -> None:
        for _ in range(4 * self.cfg.max_batch):
            try:
                frames = self.sock.recv_multipart(zmq.NOBLOCK, copy=True)
            except zmq.Again:
                return
            now = time.monotonic()
            if len(frames) != 2:
                self.malformed.drop(f"{len(frames)} frames, expected identity + payload")
                continue
            try:
                env = unpack(frames[1], REQUEST_KINDS)
                req = DetectRequest.from_body(env.body)
            except MalformedMessage as exc:
                self.malformed.drop(exc)
                continue
            self._m_requests.inc()
            self.pending.append(_Pending(frames[0], req, now))

    def _answer(self, batch: list[_Pending]) -> None:
        now_wall = time.time()
        work: _Work = []
        for p in batch:
            if now_wall - p.req.t_capture > self.cfg.stale_after_s:
                self._drop(p, "stale")
                continue
            reason, jobs = self._read(p.req)
            if jobs is None:
                self._drop(p, reason)
            else:
                work.append((p, jobs))
        # An overloaded box can make one batch take longer than the supervisor's stall timeout:
        # run it in chunks of about CYCLE_BUDGET_S of inference, beat between them, and drop
        # what went stale while the chunks before it ran.
        while work:
            chunk, work = self._chunk(work)
            self._infer(chunk)
            now_wall, fresh = time.time(), []
            for item in work:
                if now_wall - item[0].req.t_capture > self.cfg.stale_after_s:
                    self._drop(item[0], "stale")
                else:
                    fresh.append(item)
            work = fresh
            if work and self._beat is not None:
                self._beat(served=self.served)

    def _chunk(self, work: _Work) -> tuple[_Work, _Work]:
        if self._per_image_s <= 0:
            return work, []
        budget = max(1, int(CYCLE_BUDGET_S / self._per_image_s))
        n, images = 0, 0
        while n < len(work) and (n == 0 or images + len(work[n][1]) <= budget):
            images += len(work[n][1])
            n += 1
        return work[:n], work[n:]

    def _infer(self, work: _Work) -> None:
        stats = BatchStats()
        t0 = time.monotonic()
        try:
            self.detector.run([j for _, jobs in work for j in jobs], stats)
        except Exception as exc:  # a broken frame or session error must not kill the worker
            self._log_error("inference failed", exc)
            for p, _ in work:
                self._drop(p, "error")
            return
        images = sum(size for size, _ in stats.batches)
        if images:
            per_image = stats.infer_s / images
            self._per_image_s = (
                per_image if self._per_image_s <= 0 else 0.7 * self._per_image_s + 0.3 * per_image
            )
        for size, seconds in stats.batches:
            self._m_infer.observe(seconds)
            self._m_batch.observe(size)
        for p, jobs in work:
            queue_s = t0 - p.t_recv
            self._m_queue.observe(queue_s)
            detections = self.detector.merge([j.detections for j in jobs])
            self._send(p, DETECTIONS, detections_body(p.req, detections, stats.infer_s, queue_s))
            self.served += 1

    def _read(self, req: DetectRequest) -> tuple[str, list[Job] | None]:
        """Letterboxed jobs for the request's frame, or (reason, None)."""
        try:
            ring = self.rings.get(req.ring)
        except (OSError, RingError, ValueError):
            return "no_ring", None
        try:
            jobs = ring.peek(req.slot, req.seq, lambda view: self._prepare(view, req.rois))
        except ValueError as exc:
            self._log_error("bad frame", exc)
            return "bad_request", None
        return ("overwritten", None) if jobs is None else ("", jobs)

    def _prepare(self, view: np.ndarray, rois: list[list[float]] | None) -> list[Job]:
        frame = view[:, :, 0] if view.ndim == 3 and view.shape[2] == 1 else view
        jobs = region_jobs(frame, rois)
        for job in jobs:
            self.detector.prepare(job)
            job.image = _EMPTY  # never keep a view into shared memory past the seqlock check
        return jobs

    def _drop(self, p: _Pending, reason: str) -> None:
        metrics.REQUESTS_DROPPED.labels(detector=self.name, reason=reason).inc()
        self._send(p, DROPPED, dropped_body(p.req, reason))

    def _send(self, p: _Pending, kind: str, body: dict[str, Any]) -> None:
        # the camera is gone or not reading when this would block; its timeout frees the credit
        with contextlib.suppress(zmq.Again):
            self.sock.send_multipart([p.identity, pack(kind, body)], zmq.NOBLOCK)

    def _log_error(self, what: str, exc: Exception) -> None:
        now = time.monotonic()
        if now - self._last_error_log >= 60:
            self._last_error_log = now
            self.log.warning(what, error=repr(exc))

    def close(self) -> None:
        for p in self.pending:
            self._drop(p, "stopping")
        self.pending = []
        self.rings.close()
        self.sock.close(linger=0)
