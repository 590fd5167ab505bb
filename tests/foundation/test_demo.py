"""`edged demo` — the README's main job — on the real daemon with every demo part."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

from support.daemon import free_port


def test_demo_starts_every_worker_shows_events_and_heals(tmp_path: Path) -> None:
    events_path = tmp_path / "events.jsonl"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "edged",
            "demo",
            "--duration",
            "75",
            "--events",
            str(events_path),
            "--workdir",
            str(tmp_path / "demo"),
            "--metrics-port",
            str(free_port()),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = proc.stdout
    assert proc.returncode == 0, out[-3000:] + proc.stderr[-3000:]
    assert "worker rules: running" in out and "worker uplink: running" in out
    assert "chaos: kill -9 worker rules" in out
    events = [json.loads(line) for line in events_path.read_text().splitlines()]
    types = Counter(e["type"] for e in events)
    assert types["worker_restarted"] >= 1, types  # the supervisor brought the killed worker back
    assert "daemon stopped" in out and "exit code 0" in out
    # Every part contributes what it simulates.
    assert types["access_granted"] >= 1, types
    assert types["gate_opened"] >= 1, types
    assert types["sc_failed"] == 0, types  # correct keys everywhere in the demo
    assert "SERVER stored" in out  # the reference receiver got events over CurveZMQ
