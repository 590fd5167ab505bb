"""The detector worker under the real worker runtime, and the two commands."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from det_support import ASTRONAUT_PERSON, CAMERA_PERSON, iou

from edged.config.site import SiteConfig
from edged.detection.client import DetectorClient
from edged.pipelines.ring import FrameRing
from edged.workers import detector as detector_worker
from edged.workers.runtime import WorkerContext


def test_worker_serves_the_default_model(
    tmp_path: Path, models_dir: Path, camera_image: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EDGED_MODELS_DIR", str(models_dir))  # the default model, found by the default rule
    config = SiteConfig.model_validate(
        {
            "site": {"id": "t"},
            "runtime": {"run_dir": str(tmp_path / "run")},
            "detectors": [{"type": "yolov3_tiny"}],
        }
    )
    ctx = WorkerContext.create("detector:coco", config)
    ctx.endpoints.prepare()
    thread = threading.Thread(target=detector_worker.run, args=(ctx,), daemon=True)
    thread.start()
    ring = FrameRing.create("edged-ring-w", 2, camera_image.shape)  # the real /dev/shm, as in production
    try:
        slot, seq = ring.write(camera_image, 0.0)
        client = DetectorClient(ctx.zmq, ctx.endpoints.detector("coco"), "w", timeout_s=10)
        deadline = time.monotonic() + 20
        while not client.submit(ring.name, slot, seq, time.time()):  # until the worker has bound
            assert time.monotonic() < deadline and thread.is_alive()
            time.sleep(0.05)
        results = []
        while not results and time.monotonic() < deadline:
            results = client.poll(0.1)
        assert results and results[0].ok
        assert iou(results[0].detections[0].box, CAMERA_PERSON) > 0.6
        client.close()
    finally:
        ctx.stopping.set()
        thread.join(10)
        ring.close()
        ring.unlink()
        ctx.close(0.1)
    assert not thread.is_alive()


def test_worker_rejects_an_unknown_detector(tmp_path: Path) -> None:
    config = SiteConfig.model_validate({"site": {"id": "t"}, "runtime": {"run_dir": str(tmp_path)}})
    ctx = WorkerContext.create("detector:nope", config)
    with pytest.raises(LookupError, match="nope"):
        detector_worker.run(ctx)
    ctx.close(0.1)


def _edged(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edged", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=120,
    )


def test_detect_command_prints_json(
    tmp_path: Path, models_dir: Path, camera_image: np.ndarray, astronaut_image: np.ndarray
) -> None:
    cv2.imwrite(str(tmp_path / "camera.png"), camera_image)
    cv2.imwrite(str(tmp_path / "astronaut.jpg"), astronaut_image, [cv2.IMWRITE_JPEG_QUALITY, 95])
    (tmp_path / "broken.jpg").write_bytes(b"not an image")
    env = {"EDGED_MODELS_DIR": str(models_dir)}
    paths = [str(tmp_path / n) for n in ("camera.png", "astronaut.jpg", "broken.jpg")]
    done = _edged("detect", *paths, env=env)
    assert done.returncode == 1, done.stderr  # the broken file makes the status 1, the others still run
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [line["image"] for line in lines] == paths
    camera, astronaut, broken = lines
    assert camera["width"] == 512 and iou(camera["detections"][0]["box"], CAMERA_PERSON) > 0.6
    assert camera["detections"][0]["label"] == "person" and camera["detections"][0]["score"] > 0.6
    assert any(
        d["label"] == "person" and iou(d["box"], ASTRONAUT_PERSON) > 0.6 for d in astronaut["detections"]
    )
    assert broken == {"image": paths[2], "error": "cannot read image"}

    site = tmp_path / "site.yaml"
    site.write_text("site: {id: t}\ndetectors:\n  - {type: yolov3_tiny, name: cars, classes: [car]}\n")
    done = _edged("detect", "-c", str(site), paths[0], env=env)
    assert done.returncode == 0 and json.loads(done.stdout)["detections"] == []  # the config's filter


def test_detect_without_a_prepared_model_says_how(tmp_path: Path) -> None:
    done = _edged("detect", "x.png", env={"EDGED_MODELS_DIR": str(tmp_path)})
    assert done.returncode == 2 and "edged models prepare" in done.stderr


def test_models_prepare_command(tmp_path: Path) -> None:
    env = {"EDGED_MODELS_DIR": str(tmp_path / "models")}
    first = _edged("models", "prepare", env=env)
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)
    assert report["converted"] and Path(report["model"]) == tmp_path / "models" / "yolov3-tiny-coco.onnx"
    again = _edged("models", "prepare", env=env)
    assert json.loads(again.stdout)["converted"] is False
