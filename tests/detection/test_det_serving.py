"""Detector serving over real sockets: DetectorServer (ROUTER) in a thread, DetectorClient
(DEALER) on the camera side, frames in a real shared-memory FrameRing (in tmp_path)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zmq
from det_support import CAMERA_PERSON, iou
from prometheus_client import REGISTRY

from edged.bus.envelope import pack, unpack
from edged.config.detectors import YoloDarknetDetector
from edged.detection.client import DetectorClient, DetectResult
from edged.detection.detector import Detector
from edged.detection.protocol import DETECTIONS
from edged.detection.server import DetectorServer
from edged.pipelines.ring import FrameRing


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


class Served:
    """A DetectorServer running in its own thread until the test ends."""

    def __init__(self, detector: Detector, endpoint: str, shm_dir: Path) -> None:
        self.zctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
        self.endpoint = endpoint
        self.stop = threading.Event()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(detector, shm_dir), daemon=True)
        self.thread.start()
        assert self.ready.wait(5)

    def _run(self, detector: Detector, shm_dir: Path) -> None:
        server = DetectorServer(detector, self.zctx, self.endpoint, shm_dir)
        self.ready.set()
        try:
            server.serve(self.stop)
        finally:
            server.close()

    def client(self, camera: str, **kw: Any) -> DetectorClient:
        return DetectorClient(self.zctx, self.endpoint, camera, **kw)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        self.zctx.term()


@pytest.fixture
def serve(coco_model: Path, tmp_path: Path) -> Iterator[Any]:
    started: list[Served] = []

    def start(name: str, **cfg: Any) -> Served:
        detector = Detector(YoloDarknetDetector(name=name, model=str(coco_model), **cfg))
        s = Served(detector, f"ipc://{tmp_path}/det-{name}.sock", tmp_path)
        started.append(s)
        return s

    yield start
    for s in started:
        s.close()


@pytest.fixture
def ring(tmp_path: Path, camera_image: np.ndarray) -> Iterator[FrameRing]:
    r = FrameRing.create("edged-ring-cam1", 4, camera_image.shape, shm_dir=tmp_path)
    yield r
    r.close()
    r.unlink()


def wait_results(client: DetectorClient, count: int, timeout_s: float = 10.0) -> list[DetectResult]:
    out: list[DetectResult] = []
    deadline = time.monotonic() + timeout_s
    while len(out) < count and time.monotonic() < deadline:
        out += client.poll(0.05)
    return out


def test_round_trip_finds_the_person(serve: Any, ring: FrameRing, camera_image: np.ndarray) -> None:
    served = serve("rt")
    client = served.client("cam1", credits=2, timeout_s=5)
    time.sleep(0.1)  # let the DEALER connect (IMMEDIATE: no queueing into nowhere)
    slot, seq = ring.write(camera_image, t=0.0, wall=time.time())
    assert client.submit(ring.name, slot, seq, time.time())
    assert client.in_flight == 1
    (result,) = wait_results(client, 1)
    assert result.ok and result.seq == seq and client.in_flight == 0
    people = [d for d in result.detections if d.label == "person"]
    assert people and iou(people[0].box, CAMERA_PERSON) > 0.6
    assert 0 < result.infer_s < result.rtt_s and result.queue_s >= 0
    # regions of interest: the same person, found in a crop, in frame coordinates
    assert client.submit(ring.name, slot, seq, time.time(), rois=[[0, 40, 360, 512]])
    (crop,) = wait_results(client, 1)
    assert crop.ok and iou(crop.detections[0].box, CAMERA_PERSON) > 0.6
    assert metric("edged_detector_requests_total", detector="rt") == 2
    assert metric("edged_detector_inference_seconds_count", detector="rt") == 2
    client.close()


def test_batches_across_cameras(serve: Any, tmp_path: Path, camera_image: np.ndarray) -> None:
    served = serve("batch", batch_window_s=0.1, max_batch=8)
    rings = [FrameRing.create(f"edged-ring-b{i}", 2, camera_image.shape, shm_dir=tmp_path) for i in range(3)]
    clients = [served.client(f"b{i}", timeout_s=5) for i in range(3)]
    time.sleep(0.1)
    for r, c in zip(rings, clients, strict=True):
        slot, seq = r.write(camera_image, 0.0)
        assert c.submit(r.name, slot, seq, time.time())
    results = [wait_results(c, 1)[0] for c in clients]
    assert all(r.ok and r.detections for r in results)
    # one collection window, one inference call of three frames
    assert metric("edged_detector_batch_size_count", detector="batch") == 1
    assert metric("edged_detector_batch_size_sum", detector="batch") == 3
    assert metric("edged_detector_queue_wait_seconds_count", detector="batch") == 3
    for r, c in zip(rings, clients, strict=True):
        c.close()
        r.close()
        r.unlink()


def test_stale_overwritten_and_missing_frames_are_answered_dropped(
    serve: Any, ring: FrameRing, camera_image: np.ndarray
) -> None:
    served = serve("drops", stale_after_s=0.5)
    client = served.client("cam1", credits=2, timeout_s=5)
    time.sleep(0.1)
    slot, seq = ring.write(camera_image, 0.0)
    assert client.submit(ring.name, slot, seq, time.time() - 3.0)  # captured 3 s ago
    (stale,) = wait_results(client, 1)
    assert stale.dropped == "stale" and client.in_flight == 0
    for _ in range(4):  # a 4-slot ring: frame `seq` is overwritten now
        ring.write(camera_image, 0.0)
    assert client.submit(ring.name, slot, seq, time.time())
    assert client.submit("edged-ring-nobody", 0, 1, time.time())
    results = {r.dropped for r in wait_results(client, 2)}
    assert results == {"overwritten", "no_ring"}
    for reason in ("stale", "overwritten", "no_ring"):
        assert metric("edged_detector_requests_dropped_total", detector="drops", reason=reason) == 1
    assert metric("edged_detector_inference_seconds_count", detector="drops") == 0  # no CPU spent
    client.close()


def test_malformed_requests_are_counted_and_serving_continues(
    serve: Any, ring: FrameRing, camera_image: np.ndarray
) -> None:
    served = serve("bad")
    raw = served.zctx.socket(zmq.DEALER)
    raw.connect(served.endpoint)
    slot, seq = ring.write(camera_image, 0.0)
    good = {"id": 7, "camera": "cam1", "ring": ring.name, "slot": slot, "seq": seq, "t_capture": time.time()}
    raw.send(b"\x00not msgpack")
    raw.send(pack("detect", {**good, "ring": "../../etc/passwd"}))
    raw.send(pack("detect", {**good, "seq": "1"}))
    raw.send(pack("hello", good))
    raw.send(pack("detect", good))
    assert raw.poll(10_000)
    env = unpack(raw.recv())
    assert env.kind == DETECTIONS and env.body["id"] == 7 and env.body["detections"]
    assert metric("edged_bus_malformed_messages_total", socket="detector:bad") == 4
    raw.close(0)


def test_client_credit_timeout_and_late_reply(tmp_path: Path) -> None:
    """Against a bare ROUTER that answers only when told to: credits, drop at source, timeout."""
    zctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    endpoint = f"ipc://{tmp_path}/slow.sock"
    router = zctx.socket(zmq.ROUTER)
    router.bind(endpoint)
    client = DetectorClient(zctx, endpoint, "cam-credit", credits=1, timeout_s=0.3)
    time.sleep(0.1)
    assert client.submit("edged-ring-x", 0, 1, time.time())
    assert not client.submit("edged-ring-x", 1, 2, time.time())  # no credit: dropped at the source
    assert metric("edged_detect_frames_dropped_total", camera="cam-credit", reason="no_credit") == 1
    identity, payload = router.recv_multipart()
    request = unpack(payload).body
    assert request["seq"] == 1 and "rois" not in request
    (timed_out,) = wait_results(client, 1, timeout_s=2)
    assert timed_out.dropped == "timeout" and client.has_credit
    assert metric("edged_detect_request_timeouts_total", camera="cam-credit") == 1
    late = {
        "id": request["id"],
        "camera": "cam-credit",
        "seq": 1,
        "detections": [],
        "infer_s": 0.0,
        "queue_s": 0.0,
    }
    router.send_multipart([identity, pack(DETECTIONS, late)])
    assert client.poll(0.2) == []  # the late reply is ignored: its credit was already returned
    assert client.submit("edged-ring-x", 2, 3, time.time())
    client.close()
    router.close(0)
    zctx.term()


def test_client_without_detector_drops_as_unavailable(tmp_path: Path) -> None:
    zctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    client = DetectorClient(zctx, f"ipc://{tmp_path}/nobody.sock", "cam-alone")
    assert not client.submit("edged-ring-x", 0, 1, time.time())
    assert client.in_flight == 0
    assert metric("edged_detect_frames_dropped_total", camera="cam-alone", reason="unavailable") == 1
    client.close()
    zctx.term()
