"""The street camera and the detector as real workers under the real daemon (`edged run`).

gst-rtsp-server plays the 1906 street film; the supervisor forks the camera worker and the
detector worker; an alarm with a snapshot file must come out on the telemetry bus, the
heartbeats must carry progress, and /metrics must show both workers' metrics.
"""

from __future__ import annotations

import shutil
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import zmq
from cam_assets import coco_model, street_film_or_skip
from support.daemon import Daemon, wait_for

from edged.bus.endpoints import Endpoints
from edged.bus.telemetry import TelemetrySubscriber
from edged.pipelines import rtsp_server

pytestmark = pytest.mark.skipif(rtsp_server.available() is not None, reason=str(rtsp_server.available()))


def _site(url: str, model: Path) -> dict[str, Any]:
    return {
        "detectors": [{"type": "yolov3_tiny", "name": "coco", "model": str(model)}],
        "cameras": [
            {
                "id": "street",
                "source": url,
                "fps": 30,
                "detection": {"fps": 5, "classes": ["person", "bicycle", "car", "horse"]},
                "zones": [
                    {
                        "id": "road",
                        "polygon": [[0, 120], [640, 120], [640, 360], [0, 360]],
                        "inertia_frames": 2,
                    }
                ],
                "lines": [{"id": "mid", "points": [[320, 360], [320, 0]]}],
            }
        ],
    }


def test_street_camera_and_detector_under_the_daemon(tmp_path: Path) -> None:
    film, model = street_film_or_skip(), coco_model(tmp_path)
    with rtsp_server.RtspServer({"street": film}, log=tmp_path / "rtsp.log") as srv:
        daemon = Daemon(tmp_path, _site(srv.url("street"), model))
        zctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
        sub = TelemetrySubscriber(zctx, Endpoints(daemon.run_dir).telemetry_out, ["event"])
        events: list[dict[str, Any]] = []

        def alarm_with_snapshot() -> dict[str, Any] | None:
            while (got := sub.recv(50)) is not None:
                events.append(got[1])
            for e in events:
                snap = (e.get("data") or {}).get("snapshot")
                if e["type"] in ("intrusion", "line_crossing") and snap and Path(snap).is_file():
                    return e
            return None

        try:
            with daemon:
                daemon.wait_running("camera:street", 30)
                daemon.wait_running("detector:coco", 30)
                event = wait_for(alarm_with_snapshot, 45, 0.1)
                assert event["source"] == "street"
                assert Path(event["data"]["snapshot"]).stat().st_size > 5000
                assert event["data"]["class"] in ("person", "bicycle", "car", "horse")

                cam = daemon.worker("camera:street")
                assert cam is not None and cam["state"] == "running"
                progress = cam["progress"]
                assert time.time() - progress["last_frame_ts"] < 5, progress
                assert progress["analysed"] > 0 and "detect_wait_s" in progress
                det = daemon.worker("detector:coco")
                assert det is not None and det["progress"].get("served", 0) > 0, det

                text = urllib.request.urlopen(f"http://127.0.0.1:{daemon.port}/metrics", timeout=5).read()
                body = text.decode()
                assert 'edged_camera_frames_processed_total{camera="street"}' in body
                assert 'edged_detector_inference_seconds_count{detector="coco"}' in body
                promtool = shutil.which("promtool")
                if promtool is not None:
                    check = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True)
                    assert check.returncode == 0, check.stdout.decode() + check.stderr.decode()
        except (TimeoutError, AssertionError):
            print("events:", [(e["type"], e["source"]) for e in events])
            print(daemon.log_text()[-4000:])
            raise
        finally:
            sub.close()
            zctx.term()
