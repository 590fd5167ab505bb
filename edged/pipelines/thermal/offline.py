"""`edged analyze thermal`: the live analytic, run over an npz replay."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

from edged.config.camera import CameraConfig
from edged.events import Event
from edged.pipelines.thermal.decisions import Reading
from edged.pipelines.thermal.npz import NpzSource
from edged.pipelines.thermal.screening import ThermalScreening


@dataclass
class OfflineResult:
    events: list[Event]
    readings: list[Reading]
    summary: dict[str, Any]
    frames: int
    summaries: list[dict[str, Any]] = field(default_factory=list)


def analyze_file(npz: Path, camera: CameraConfig, evidence_dir: Path | None) -> OfflineResult:
    screening = ThermalScreening(camera, evidence_dir)
    source = NpzSource(npz)
    events: list[Event] = []
    summaries: list[dict[str, Any]] = []
    interval = screening.cfg.summary_interval_s
    next_summary = interval
    t = 0.0
    while (frame := source.read()) is not None:
        events += screening.process(frame)
        t = frame.t
        if t >= next_summary:
            summaries.append(screening.summary(t))
            next_summary += interval
    events += screening.close()
    summaries.append(screening.summary(t))
    total = {
        "frames": screening.frames,
        "people_screened": sum(s["people_screened"] for s in summaries),
        "alarms": sum(s["alarms"] for s in summaries),
        "calibration": summaries[-1]["calibration"],
        "skipped": dict(screening.skipped),
    }
    return OfflineResult(events, screening.readings, total, screening.frames, summaries)


def reading_row(r: Reading) -> dict[str, Any]:
    return {
        "track": r.track,
        "t_first": round(r.t_first, 3),
        "t_decision": round(r.t_decision, 3),
        "frames": r.frames,
        "skin_temp_c": round(r.skin_c, 3),
        "temp_c": round(r.body_c, 3),
        "final_temp_c": None if r.final_body_c is None else round(r.final_body_c, 3),
        "alarm": r.alarm,
        "mode": r.mode,
        "quality": r.flags,
        "bbox": [round(v, 1) for v in r.box],
    }


@contextlib.contextmanager
def logs_to_stderr(level: int = logging.WARNING) -> Iterator[None]:
    """Offline commands print results on stdout; their log lines go to stderr (restored after,
    for callers in the same process such as tests)."""
    saved = structlog.get_config()
    structlog.configure(
        processors=[structlog.processors.add_log_level, structlog.processors.JSONRenderer()],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    try:
        yield
    finally:
        structlog.configure(**saved)
