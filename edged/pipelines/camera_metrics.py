"""Per-camera metrics (labels bounded by the config's camera, line and reason sets)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

FRAMES_DECODED = Counter("edged_camera_frames_decoded_total", "Frames decoded from the source.", ["camera"])
FRAMES_PROCESSED = Counter(
    "edged_camera_frames_processed_total",
    "Frames analysed: detector results turned into tracks (or frames through per-frame analytics).",
    ["camera"],
)
FRAMES_SKIPPED = Counter(
    "edged_camera_frames_skipped_total",
    "Frames due for analysis but not analysed: behind, no_credit, stale, no_motion.",
    ["camera", "reason"],
)
RECONNECTS = Counter(
    "edged_camera_reconnects_total",
    "Source reopened, by reason: open_failed, stream_ended, stall, decode_error, eof.",
    ["camera", "reason"],
)
CONNECTED = Gauge(
    "edged_camera_connected",
    "1 while the source delivers frames.",
    ["camera"],
    multiprocess_mode="livemostrecent",
)
LAST_FRAME_AGE = Gauge(
    "edged_camera_last_frame_age_seconds",
    "Seconds since the last decoded frame.",
    ["camera"],
    multiprocess_mode="livemostrecent",
)
QUEUE_DEPTH = Gauge(
    "edged_camera_queue_depth",
    "Detection requests in flight plus frames waiting for analysis.",
    ["camera"],
    multiprocess_mode="livemostrecent",
)
TRACKED = Gauge(
    "edged_camera_tracked_objects",
    "Confirmed objects tracked now.",
    ["camera"],
    multiprocess_mode="livemostrecent",
)
LINE_CROSSINGS = Counter(
    "edged_camera_line_crossings_total", "Objects counted crossing a line.", ["camera", "line", "direction"]
)
BAD_INPUT = Counter(
    "edged_camera_dropped_total",
    "Inputs dropped as unusable (bad frame, bad result), by reason.",
    ["camera", "reason"],
)
EVENT_LATENCY = Histogram(
    "edged_camera_event_latency_seconds",
    "Frame capture to event handed to the event channel.",
    ["camera", "type"],
    buckets=(0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10),
)
