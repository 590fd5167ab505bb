"""Door-level metrics (label `group` is the doors worker's group, bounded by the config)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

READERS_ONLINE = Gauge(
    "edged_doors_readers_online",
    "OSDP readers and IP controllers online (secure channel up where required).",
    ["group"],
    multiprocess_mode="livesum",
)
DOORS_ONLINE = Gauge(
    "edged_doors_online",
    "Doors whose reader or controller is online.",
    ["group"],
    multiprocess_mode="livesum",
)
DOORS_CONFIGURED = Gauge("edged_doors_configured", "Doors served.", ["group"], multiprocess_mode="livesum")
DECISION_SECONDS = Histogram(
    "edged_doors_decision_seconds",
    "Card read taken off the wire to the unlock command issued (or the denial decided).",
    ["group"],
    buckets=(0.0002, 0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.02, 0.05, 0.1),
)
DECISIONS = Counter(
    "edged_doors_decisions_total", "Access decisions by result and reason.", ["result", "reason"]
)
