"""Metrics of the gates worker (labels bounded by the configured checkpoints)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

IO_ROUNDTRIP = Histogram(
    "edged_gates_io_roundtrip_seconds",
    "Modbus request to response, by operation (read inputs, write coil).",
    ["op"],
    buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0),
)
IO_ERRORS = Counter(
    "edged_gates_io_errors_total",
    "Failed Modbus exchanges by checkpoint and kind (connect, timeout, exception, malformed).",
    ["checkpoint", "kind"],
)
OPENINGS = Counter(
    "edged_gates_openings_total",
    "Barrier openings by checkpoint and reason (whitelist, visitor, command, forced).",
    ["checkpoint", "reason"],
)
REFUSED = Counter(
    "edged_gates_refused_total",
    "Opens refused, by checkpoint and why (held, offline, no_io, denied).",
    ["checkpoint", "why"],
)
DECISIONS = Counter(
    "edged_gates_decisions_total",
    "Plate decisions by result (whitelist, visitor, unknown, expired, ...).",
    ["result"],
)
CHECKPOINTS_ONLINE = Gauge(
    "edged_gates_checkpoints_online",
    "Checkpoints whose barrier IO answers.",
    multiprocess_mode="livemostrecent",
)
CHECKPOINTS_HELD = Gauge(
    "edged_gates_checkpoints_held",
    "Checkpoints held closed by a rule or command.",
    multiprocess_mode="livemostrecent",
)
PLATE_READS = Counter(
    "edged_gates_plate_reads_total",
    "Plate camera reads by checkpoint and result (read, no_text, invalid, low_confidence, no_frame, "
    "stale, busy, error, gone); only `read` reaches a decision.",
    ["checkpoint", "result"],
)
PLATE_READ_SECONDS = Histogram(
    "edged_gates_plate_read_seconds",
    "OCR time of one plate camera frame (detection + recognition).",
    buckets=(0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.5, 5.0),
)
