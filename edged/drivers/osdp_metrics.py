"""Metrics of OSDP buses (label `bus` is bounded by the site config)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

RTT_BUCKETS = (0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0)

COMMAND_RTT = Histogram(
    "edged_osdp_command_rtt_seconds",
    "Output command submitted to the reader's acknowledgement, over the bus.",
    ["bus"],
    buckets=RTT_BUCKETS,
)
MALFORMED = Counter(
    "edged_osdp_malformed_frames_total", "Frames from devices dropped as malformed.", ["bus", "reason"]
)
STRAY_REPLIES = Counter(
    "edged_osdp_stray_replies_total",
    "Well-formed frames kept from libosdp: late or duplicated replies, echoes of commands.",
    ["bus"],
)
RESENDS_HELD = Counter(
    "edged_osdp_resends_held_total",
    "libosdp re-sends of a command held back to let a late reply answer it (see ReplyGate).",
    ["bus"],
)
OFFLINE_TRANSITIONS = Counter(
    "edged_osdp_offline_transitions_total", "Readers that went from online to offline or sc_failed.", ["bus"]
)
SC_FAILED = Counter(
    "edged_osdp_sc_failed_total", "Readers raised sc_failed (handshake rejected, or plaintext).", ["bus"]
)
PLAINTEXT_DROPPED = Counter(
    "edged_osdp_plaintext_events_dropped_total", "Card reads dropped: no secure channel.", ["bus"]
)
BUS_UP = Gauge(
    "edged_osdp_bus_up", "1 while the bus's serial channel is open.", ["bus"], multiprocess_mode="livemax"
)
