"""Prometheus metrics of thermal screening (labels bounded by the configured cameras)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

PEOPLE = Counter("edged_thermal_people_screened_total", "People with a temperature decision.", ["camera"])
ALARMS = Counter("edged_thermal_alarms_total", "Fever alarms raised (one per person).", ["camera", "mode"])
DUPLICATES = Counter(
    "edged_thermal_duplicates_suppressed_total",
    "Alarms suppressed as the same person re-tracked.",
    ["camera"],
)
FRAMES = Counter("edged_thermal_frames_total", "Thermal frames processed.", ["camera"])
SKIPPED = Counter(
    "edged_thermal_frames_skipped_total", "Frames not used for screening, by reason.", ["camera", "reason"]
)
FLAGGED = Counter(
    "edged_thermal_face_readings_flagged_total",
    "Per-frame face readings not valid, by flag.",
    ["camera", "flag"],
)
CALIBRATED = Gauge(
    "edged_thermal_calibrated",
    "1 while the blackbody reference is locked (absolute alarms allowed).",
    ["camera"],
    multiprocess_mode="livemostrecent",
)
OFFSET = Gauge(
    "edged_thermal_blackbody_offset_celsius",
    "Correction added to the camera's reading (set point - blackbody ROI mean).",
    ["camera"],
    multiprocess_mode="livemostrecent",
)
BLACKBODY_LOST = Counter(
    "edged_thermal_blackbody_lost_total", "Blackbody reference losses, by reason.", ["camera", "reason"]
)
FRAME_SECONDS = Histogram(
    "edged_thermal_frame_seconds",
    "Processing time of one thermal frame.",
    ["camera"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32),
)
SOURCE_ERRORS = Counter("edged_thermal_source_errors_total", "Thermal source failures.", ["camera"])
VISIBLE_ERRORS = Counter(
    "edged_thermal_visible_errors_total",
    "Frames that went on thermal-only although a visible registration is configured, by reason.",
    ["camera", "reason"],  # corrupt: the visible JPEG did not decode; missing: the camera sent none
)
TELEMETRY_ERRORS = Counter(
    "edged_thermal_telemetry_errors_total",
    "UVC frames whose Lepton telemetry row could not be parsed (FFC left to the freeze detector).",
    ["camera"],
)
