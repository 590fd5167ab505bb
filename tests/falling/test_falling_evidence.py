"""Evidence: the clip spans 10 s before the release to 5 s after the last sighting; RTSP sources
are copied from a ring of their own compressed packets (real gst-rtsp-server, real ffmpeg)."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from falling_support import render

from edged.cli import main
from edged.events import validate_event
from edged.pipelines import rtsp_server
from edged.pipelines.falling.evidence import EvidenceRecorder
from edged.pipelines.frame import Frame


def _probe(path: Path) -> dict[str, str]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration:stream=codec_name,width,height",
         "-of", "default=noprint_wrappers=1", str(path)],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return dict(line.split("=", 1) for line in out.strip().splitlines())


def test_analyze_cli_writes_events_clip_and_snapshot(tmp_path: Path) -> None:
    video, _, truth = render(
        tmp_path, "late", seed=41, objects=["drop"], t_release=(11.0, 11.5), tail_s=6.0, width=480, height=270
    )
    out = tmp_path / "out" / "events.jsonl"
    rc = main(
        ["analyze", "falling", str(video), "--camera", str(tmp_path / "late.yaml"), "--events", str(out)]
    )
    assert rc == 0
    events = [json.loads(line) for line in out.read_text().splitlines()]
    assert [e["data"]["severity"] for e in events] == ["alarm"]
    ev = validate_event(events[0])
    data = ev["data"]
    for key in ("floor", "floor_range", "window_column", "t_release", "t_alarm", "confidence", "severity",
                "clip", "snapshot", "trajectory"):  # fmt: skip
        assert key in data
    clip, snap = Path(data["clip"]), Path(data["snapshot"])
    assert clip.is_file() and snap.is_file()
    assert cv2.imread(str(snap)) is not None
    info = _probe(clip)
    assert info["codec_name"] == "h264"
    # segments are 2 s long and start on the clip clock at 0, 2, 4, ...: the clip starts at the
    # boundary at or before release - 10 s and runs to last sighting + 5 s (or the end of the video)
    t_release, t_last = data["t_release"], data["trajectory"][-1][0]
    start = 2.0 * ((t_release - 10.0) // 2.0)
    end = min(t_last + 5.0, truth["duration_s"])
    assert start <= t_release - 10.0
    assert float(info["duration"]) >= end - start - 0.2


@pytest.mark.skipif(rtsp_server.available() is not None, reason=str(rtsp_server.available()))
def test_rtsp_source_clip_is_copied_without_reencoding(tmp_path: Path) -> None:
    video, _, _ = render(tmp_path, "src", seed=42, objects=[], duration=6.0, width=480, height=270)
    with rtsp_server.RtspServer({"cam": video}) as srv:
        rec = EvidenceRecorder("cam-a", tmp_path / "ev", 25.0, rtsp_source=srv.url("cam"))
        try:
            deadline = time.time() + 20
            while time.time() < deadline and rec.ring.covered_until() < time.time() - 1:
                rec.ring.refresh()
                time.sleep(0.2)
            start = time.time()
            time.sleep(3.0)
            path = rec.request_clip("ev1", 0, 0, start - 2.0, start + 3.0)
            frame = Frame(np.zeros((270, 480, 3), np.uint8), 0, 0.0, time.time())  # copy mode ignores pixels
            while time.time() < deadline + 15 and rec.jobs:
                rec.poll(frame)
                time.sleep(0.2)
            assert not rec.jobs, "clip never completed"
        finally:
            rec.close()
    info = _probe(Path(path))
    assert info["codec_name"] == "h264" and (info["width"], info["height"]) == ("480", "270")
    assert float(info["duration"]) >= 4.5


def test_retention_deletes_oldest_beyond_budget_and_age(tmp_path: Path) -> None:
    import os

    rec = EvidenceRecorder("ret-cam", tmp_path / "ev", 25.0, max_bytes=2500, max_age_s=3600.0)
    now = time.time()
    for i, age in enumerate([7200, 300, 200, 100]):  # the first is too old whatever the budget
        p = tmp_path / "ev" / f"e{i}.mp4"
        p.write_bytes(b"x" * 1000)
        os.utime(p, (now - age, now - age))
    (tmp_path / "ev" / "keep.txt").write_text("not evidence")
    rec._retain()
    left = sorted(p.name for p in (tmp_path / "ev").iterdir())
    assert left == ["e2.mp4", "e3.mp4", "keep.txt"]
    rec.close()
