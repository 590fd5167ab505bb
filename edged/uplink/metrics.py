"""Uplink metrics (box side). Only the uplink worker sets them, so gauges use `livemax`.

Labels are bounded: priority is "0"/"1"/"2", reason and command come from fixed sets.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

OUTBOX_EVENTS = Gauge(
    "edged_uplink_outbox_events",
    "events in the outbox (not yet acked by the server)",
    ["priority"],
    multiprocess_mode="livemax",
)
OUTBOX_BYTES = Gauge(
    "edged_uplink_outbox_bytes",
    "accounted size of the outbox's events",
    ["priority"],
    multiprocess_mode="livemax",
)
OLDEST_UNSENT_AGE = Gauge(
    "edged_uplink_oldest_unsent_age_seconds",
    "age of the oldest event the server has not acked yet (0 when the lane is empty)",
    ["priority"],
    multiprocess_mode="livemax",
)
ACCEPTED = Counter("edged_uplink_events_accepted_total", "events committed to the outbox", ["priority"])
DUPLICATES = Counter("edged_uplink_events_duplicate_total", "events already in the outbox (producer resends)")
REFUSED = Counter("edged_uplink_events_refused_total", "events refused at ingest", ["reason"])
EVICTIONS = Counter(
    "edged_uplink_evictions_total", "events removed without delivery", ["priority", "reason"]
)  # reason: cap, ttl, disk_full, rejected
WRITE_ERRORS = Counter(
    "edged_uplink_outbox_write_errors_total", "outbox commits that failed", ["reason"]
)  # reason: disk_full, io_error
CORRUPT = Counter("edged_uplink_outbox_corrupt_total", "outbox files found corrupt at start and moved aside")
COMMIT_SECONDS = Histogram(
    "edged_uplink_outbox_commit_seconds",
    "duration of one group commit",
    buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0),
)
COMMIT_EVENTS = Histogram(
    "edged_uplink_outbox_commit_events",
    "events per group commit",
    buckets=(1, 5, 20, 50, 100, 250, 500, 1000),
)
BATCHES_SENT = Counter("edged_uplink_batches_sent_total", "event batches sent (first time and resent)")
BATCHES_ACKED = Counter("edged_uplink_batches_acked_total", "event batches acked by the server")
BATCHES_RETRIED = Counter(
    "edged_uplink_batches_retried_total", "batches in flight lost with the link, sent again"
)
EVENTS_ACKED = Counter("edged_uplink_events_acked_total", "events acked by the server", ["priority"])
BATCH_RTT = Histogram(
    "edged_uplink_batch_rtt_seconds",
    "batch sent → server ack (the server acks after its durable commit)",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
CONNECTED = Gauge(
    "edged_uplink_connected", "1 while a CurveZMQ session with the server is up", multiprocess_mode="livemax"
)
LAST_ACK = Gauge(
    "edged_uplink_last_ack_timestamp_seconds", "Unix time of the last server ack", multiprocess_mode="livemax"
)
CONNECTS = Counter(
    "edged_uplink_connects_total", "connection attempts", ["result"]
)  # ok, timeout, auth, closed
AUTH_FAILURES = Counter("edged_uplink_auth_failures_total", "handshakes the server refused (ZAP)")
FILE_BYTES = Counter("edged_uplink_file_bytes_sent_total", "evidence file bytes acked by the server")
FILES_DONE = Counter("edged_uplink_files_total", "evidence files", ["result"])  # delivered, missing
COMMANDS = Counter("edged_uplink_commands_total", "downlink commands", ["command", "result"])
MALFORMED = Counter("edged_uplink_malformed_messages_total", "server messages dropped as malformed")
SUMMARIES = Counter("edged_uplink_summaries_total", "summary events written")

PRIORITIES = ("0", "1", "2")
