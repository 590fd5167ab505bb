"""Detection metrics: the detector worker's (label ``detector``) and the camera-side client's
(label ``camera``). Both label sets are bounded by the site config."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

_SECONDS = (0.0025, 0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5)

INFERENCE_SECONDS = Histogram(
    "edged_detector_inference_seconds",
    "Wall time of one onnxruntime call (one batch).",
    ["detector"],
    buckets=_SECONDS,
)
BATCH_SIZE = Histogram(
    "edged_detector_batch_size",
    "Images (frames or regions) per inference call.",
    ["detector"],
    buckets=(1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 64),
)
QUEUE_WAIT_SECONDS = Histogram(
    "edged_detector_queue_wait_seconds",
    "Request received by the detector to its inference start (collection window included).",
    ["detector"],
    buckets=_SECONDS,
)
REQUESTS = Counter("edged_detector_requests_total", "Detect requests received.", ["detector"])
REQUESTS_DROPPED = Counter(
    "edged_detector_requests_dropped_total",
    "Requests answered without inference: stale (older than stale_after_s), overwritten "
    "(ring slot reused), no_ring, bad_request, error.",
    ["detector", "reason"],
)

CLIENT_DROPPED = Counter(
    "edged_detect_frames_dropped_total",
    "Frames not sent to the detector: no_credit (requests in flight) or unavailable (not connected).",
    ["camera", "reason"],
)
CLIENT_TIMEOUTS = Counter(
    "edged_detect_request_timeouts_total", "Requests given up without a reply (credit freed).", ["camera"]
)
CLIENT_ROUNDTRIP_SECONDS = Histogram(
    "edged_detect_roundtrip_seconds",
    "Request sent to reply received, per camera.",
    ["camera"],
    buckets=_SECONDS,
)
