"""The 1906 street film over real RTSP through the whole pipeline with the shipped model.

gst-rtsp-server → OpenCV/FFmpeg → shared-memory ring → DetectorClient (ZeroMQ, credits) →
DetectorServer (onnxruntime, YOLOv3-tiny converted by our converter) → tracker → zone.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import zmq
from cam_assets import coco_model, street_film_or_skip

from edged.config.camera import CameraConfig
from edged.config.detectors import YoloDarknetDetector
from edged.pipelines import rtsp_server
from edged.pipelines.detect_link import RemoteDetector
from edged.pipelines.ring import FrameRing, ring_name
from edged.pipelines.snapshots import SnapshotStore
from edged.pipelines.sources import VideoSource
from edged.pipelines.video import CameraPipeline

pytestmark = pytest.mark.skipif(rtsp_server.available() is not None, reason=str(rtsp_server.available()))


def test_street_film_yields_confirmed_persons_and_an_event_with_snapshot(tmp_path: Path) -> None:
    from edged.detection.client import DetectorClient
    from edged.detection.detector import Detector
    from edged.detection.server import DetectorServer

    film = street_film_or_skip()
    cam = CameraConfig.model_validate(
        {
            "id": "street",
            "source": "rtsp://placeholder",
            "detection": {"classes": ["person", "bicycle", "car", "horse"]},
            "zones": [
                {"id": "road", "polygon": [[0, 120], [640, 120], [640, 360], [0, 360]], "inertia_frames": 2}
            ],
            "lines": [{"id": "mid", "points": [[320, 360], [320, 0]]}],
        }
    )
    detector = Detector(YoloDarknetDetector(model=str(coco_model(tmp_path)), input_size=320))
    zctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    endpoint = f"ipc://{tmp_path}/det.sock"
    server = DetectorServer(detector, zctx, endpoint)
    stopping = threading.Event()
    serve = threading.Thread(target=server.serve, args=(stopping,), daemon=True)
    serve.start()
    name = ring_name(f"test-street-{time.monotonic_ns()}")
    ring: list[FrameRing] = []
    events: list[dict] = []

    def make_ring(shape: tuple[int, int, int]) -> FrameRing:
        ring.append(FrameRing.create(name, 8, shape))
        return ring[-1]

    client = DetectorClient(zctx, endpoint, cam.id, credits=2, timeout_s=3.0)
    pipe = CameraPipeline(cam, None, RemoteDetector(client, name), events.append,
                          snapshots=SnapshotStore(tmp_path / "snaps"), ring_factory=make_ring)  # fmt: skip
    confirmed_ids: set[int] = set()
    with rtsp_server.RtspServer({"street": film}, log=tmp_path / "rtsp.log") as srv:
        src = VideoSource(cam.id, srv.url("street"), cam.decode, 30.0, pipe.offer)
        src.start()
        try:
            deadline = time.monotonic() + 25
            while time.monotonic() < deadline:
                pipe.step(0.1)
                confirmed_ids |= {
                    t.id for t in pipe.tracker.tracks.values() if t.confirmed and t.cls == "person"
                }
                if len(confirmed_ids) >= 2 and any(e["type"] == "intrusion" for e in events):
                    break
        finally:
            src.stop()
            pipe.drain(3.0)
            stopping.set()
            serve.join(5)
            server.close()
            client.close()
            zctx.term()
            for r in ring:
                r.close()
                r.unlink()
    assert pipe.stats.analysed > 10
    assert len(confirmed_ids) >= 2, (confirmed_ids, pipe.stats)
    intrusions = [e for e in events if e["type"] == "intrusion"]
    assert intrusions, events
    snap = Path(intrusions[0]["data"]["snapshot"])
    assert snap.is_file() and snap.stat().st_size > 5000
