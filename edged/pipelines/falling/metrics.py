"""Metrics of the falling-object analytic (labels bounded by the configured cameras)."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import Counter, Histogram

CANDIDATES = Counter("edged_falling_candidates_total", "Foreground blobs handed to the tracker", ["camera"])
TRACKS = Counter("edged_falling_tracks_total", "Moving tracks that ended and were classified", ["camera"])
EVENTS = Counter("edged_falling_events_total", "falling_object events by severity", ["camera", "severity"])
GATED = Counter(
    "edged_falling_gated_frames_total",
    "Frames skipped by the foreground-fraction gate (exposure jumps)",
    ["camera"],
)
FRAME_SECONDS = Histogram(
    "edged_falling_frame_seconds",
    "Falling-object analytic processing time per frame",
    ["camera"],
    buckets=(0.002, 0.005, 0.01, 0.015, 0.02, 0.025, 0.03, 0.04, 0.06, 0.1, 0.25),
)
DROPPED = Counter(
    "edged_falling_dropped_frames_total", "Frames the analytic could not use (bad pixels)", ["camera"]
)
RESTARTS = Counter(
    "edged_falling_restarts_total", "Analytic state rebuilt because the frame size changed", ["camera"]
)
CLIPS = Counter("edged_falling_clips_total", "Evidence clips by outcome", ["camera", "outcome"])
EVIDENCE_BYTES_DELETED = Counter(
    "edged_falling_evidence_deleted_bytes_total", "Evidence bytes removed by retention", ["camera"]
)


@dataclass(frozen=True)
class CameraMetrics:
    candidates: Counter
    tracks: Counter
    alarms: Counter
    suspected: Counter
    gated: Counter
    frame_seconds: Histogram
    dropped: Counter
    restarts: Counter


def for_camera(camera: str) -> CameraMetrics:
    return CameraMetrics(
        candidates=CANDIDATES.labels(camera),
        tracks=TRACKS.labels(camera),
        alarms=EVENTS.labels(camera, "alarm"),
        suspected=EVENTS.labels(camera, "suspected"),
        gated=GATED.labels(camera),
        frame_seconds=FRAME_SECONDS.labels(camera),
        dropped=DROPPED.labels(camera),
        restarts=RESTARTS.labels(camera),
    )
