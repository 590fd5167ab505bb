"""Credits between the camera loop and a real detector server that the test steps by hand.

With two requests out, a due frame waits for a credit instead of being dropped, and is sent
when a reply returns it — unless it has grown older than one detection period (then it is
counted as skipped/no_credit). The server is the real DetectorServer with the shipped model,
over real sockets and a real frame ring; holding its loop is how the test makes it "busy".
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import zmq

from edged.config.camera import CameraConfig
from edged.config.detectors import YoloDarknetDetector
from edged.pipelines.detect_link import RemoteDetector
from edged.pipelines.ring import FrameRing, ring_name
from edged.pipelines.video import CameraPipeline

P = 2.0  # detection period: long, so a slow inference on a loaded box cannot age a held frame out


@pytest.fixture
def model(tmp_path: Path) -> Path:
    from edged.detection.models import DEFAULT_MODEL_FILE, ModelNotPrepared, prepare_default, resolve_model

    try:
        return resolve_model(None)
    except ModelNotPrepared:
        return prepare_default(tmp_path / DEFAULT_MODEL_FILE)[0]


def test_a_due_frame_waits_for_a_credit_within_one_period(tmp_path: Path, model: Path) -> None:
    from edged.detection.client import DetectorClient
    from edged.detection.detector import Detector
    from edged.detection.server import DetectorServer

    cam = CameraConfig.model_validate(
        {"id": "cred", "source": "x", "motion": {"enabled": False}, "detection": {"fps": 1 / P}}
    )
    zctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    endpoint = f"ipc://{tmp_path}/det.sock"
    detector = Detector(YoloDarknetDetector(model=str(model), stale_after_s=10))  # ages are the test's
    detector.detect([np.zeros((180, 320, 3), np.uint8)])  # first run allocates
    server = DetectorServer(detector, zctx, endpoint)
    name = ring_name(f"test-credits-{time.monotonic_ns()}")
    rings: list[FrameRing] = []

    def make_ring(shape: tuple[int, int, int]) -> FrameRing:
        rings.append(FrameRing.create(name, 8, shape))
        return rings[-1]

    client = DetectorClient(zctx, endpoint, cam.id, credits=2, timeout_s=30.0)
    pipe = CameraPipeline(cam, None, RemoteDetector(client, name), lambda e: None, ring_factory=make_ring)
    rng = np.random.default_rng(1)
    image = rng.integers(0, 255, (180, 320, 3), dtype=np.uint8)

    def offer(k: int, age_s: float = 0.0) -> None:
        pipe.offer(image, k * P, time.time() - age_s, k)
        pipe.step(0.0)

    def serve_until(sent: int) -> None:
        deadline = time.monotonic() + 20
        while pipe.stats.analysed < sent and time.monotonic() < deadline:
            server.step(0.05)
            pipe.step(0.05)

    try:
        offer(0)
        offer(1)
        assert pipe.stats.sent == 2 and pipe.link is not None and not pipe.link.has_credit
        offer(2)  # no credit: held, not dropped
        assert pipe.stats.sent == 2 and pipe.stats.skipped == {}
        serve_until(3)  # replies return credits; the held frame goes out and is answered
        assert pipe.stats.sent == 3 and pipe.stats.analysed == 3
        assert pipe.stats.skipped == {}

        offer(3)
        offer(4)
        offer(5)  # held
        offer(6)  # a newer due frame replaces the held one: that one is skipped
        assert pipe.stats.skipped == {"no_credit": 1}
        time.sleep(P + 0.1)
        pipe.step(0.0)  # no credit yet and now older than one period: skipped too
        assert pipe.stats.skipped == {"no_credit": 2}
        offer(7, age_s=P + 0.5)  # already too old when it would wait: skipped at once
        assert pipe.stats.skipped == {"no_credit": 3}
        serve_until(5)
        assert pipe.stats.sent == 5 and pipe.stats.analysed == 5
    finally:
        server.close()
        client.close()
        pipe.close()
        zctx.term()
        for ring in rings:
            ring.close()
            ring.unlink()
