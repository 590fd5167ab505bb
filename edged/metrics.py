"""Metrics shared by every worker, and the multiprocess set-up.

Workers are separate processes, so prometheus-client runs in multiprocess mode: each process
writes its values to files under ``PROMETHEUS_MULTIPROC_DIR`` (a tmpfs directory the supervisor
wipes at start) and the supervisor aggregates them when ``/metrics`` is scraped. The variable
must be set before prometheus_client is imported, which the supervisor guarantees by passing it
in each worker's environment. Domain modules define their own metrics next to the code that
updates them; only cross-cutting ones live here.
"""

from __future__ import annotations

import os
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, multiprocess

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

BUILD_INFO = Gauge(
    "edged_build_info",
    "Build of the running daemon (always 1).",
    ["version"],
    multiprocess_mode="livemostrecent",
)
WORKER_UP = Gauge(
    "edged_worker_up",
    "1 while the worker process is running and heartbeating.",
    ["worker", "kind"],
    multiprocess_mode="livemostrecent",
)
WORKER_FAILED = Gauge(
    "edged_worker_failed",
    "1 while the worker has spent its restart budget.",
    ["worker"],
    multiprocess_mode="livemostrecent",
)
WORKER_RESTARTS = Counter("edged_worker_restarts_total", "Worker restarts by reason.", ["worker", "reason"])
WORKER_HEARTBEAT_AGE = Gauge(
    "edged_worker_heartbeat_age_seconds",
    "Seconds since the worker's last heartbeat.",
    ["worker"],
    multiprocess_mode="livemostrecent",
)
WORKER_START_SECONDS = Histogram(
    "edged_worker_start_seconds",
    "Spawn to first heartbeat.",
    ["kind"],
    buckets=(0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10),
)

BUS_MALFORMED = Counter(
    "edged_bus_malformed_messages_total", "Messages dropped as malformed, by socket.", ["socket"]
)
EVENTS_EMITTED = Counter(
    "edged_events_emitted_total", "Events minted, by worker and type.", ["worker", "type"]
)
EVENTS_UNACKED = Gauge(
    "edged_bus_events_unacked",
    "Events sent and not yet acked, by sink.",
    ["worker", "sink"],
    multiprocess_mode="livemostrecent",
)
EVENTS_RESENT = Counter("edged_bus_events_resent_total", "Events resent after no ack.", ["worker", "sink"])
EVENTS_DROPPED = Counter(
    "edged_bus_events_dropped_total",
    "Events given up before an ack, by reason.",
    ["worker", "sink", "reason"],
)
EVENTS_RECEIVED = Counter(
    "edged_bus_events_received_total", "Events received on a reliable channel.", ["sink", "result"]
)
EVENTS_HANDLER_FAILURES = Counter(
    "edged_bus_event_handler_failures_total",
    "Event batches whose handler failed (not acked, resent).",
    ["sink"],
)
COMMANDS = Counter("edged_bus_commands_total", "Commands by name and result.", ["command", "result"])


def multiproc_dir() -> Path | None:
    value = os.environ.get(MULTIPROC_ENV)
    return Path(value) if value else None


def collecting_registry() -> CollectorRegistry:
    """The registry /metrics serves: every process's values when in multiprocess mode."""
    if multiproc_dir() is None:
        from prometheus_client import REGISTRY

        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return registry


def mark_process_dead(pid: int) -> None:
    if multiproc_dir() is not None:
        multiprocess.mark_process_dead(pid)
