"""`edged run` refuses, with a clear message and exit 2, what it cannot run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml


def _run(tmp_path: Path, site: dict) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(site))
    return subprocess.run(
        [sys.executable, "-m", "edged", "run", "-c", str(path)], capture_output=True, text=True, timeout=60
    )


def test_bad_config_exits_2_with_the_field_path(tmp_path: Path) -> None:
    proc = _run(tmp_path, {"site": {"id": "x"}, "supervisor": {"stall_timeout_s": -1}})
    assert proc.returncode == 2
    assert "supervisor.stall_timeout_s: Input should be greater than 0" in proc.stderr


def test_too_small_dev_shm_is_refused_before_anything_starts(tmp_path: Path) -> None:
    site = {
        "site": {"id": "x"},
        "runtime": {
            "run_dir": str(tmp_path / "run"),
            "state_dir": str(tmp_path / "state"),
            "shm_min_free_bytes": 1 << 50,
        },  # more headroom than any /dev/shm has
        "cameras": [
            {
                "id": "street",
                "source": "street.mp4",
                "lines": [{"id": "l1", "points": [[0, 100], [640, 100]]}],
            }
        ],
    }
    proc = _run(tmp_path, site)
    assert proc.returncode == 2, proc.stderr
    assert "refusing to start" in proc.stderr and "/dev/shm" in proc.stderr
    assert not (tmp_path / "run" / "metrics").exists()
