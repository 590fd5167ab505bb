"""Delivery of events to the central community server (outbox, sender, downlink).

Only `server` and `server_public_key` are needed to turn the uplink on; every other key has a
default that meets the issue's targets (group commits of ≤ 500 events, batches ≤ 500 events /
64 KiB, TTLs 7 d for P1 and 24 h for P2, a 1 GiB cap). There is no batching delay to tune:
the outbox commits as soon as its writer is free (what arrives meanwhile forms the next group)
and the sender starts a batch as soon as its window has room, so neither waits on a timer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from edged.config.base import Strict

Z85_KEY = r"^[0-9A-Za-z.\-:+=^!/*?&<>()\[\]{}@%$#]{40}$"


class UplinkConfig(Strict):
    server: str | None = Field(
        None,
        pattern=r"^tcp://[^:]+:\d{1,5}$",
        description="tcp://host:port of the central server; none: outbox only",
    )
    server_public_key: str | None = Field(
        None, pattern=Z85_KEY, description="the server's CurveZMQ public key (Z85, 40 chars), pinned"
    )
    key_file: Path | None = Field(
        None,
        description="this box's key pair (`edged keys generate`); default <state_dir>/uplink/box.key_secret",
    )
    outbox_path: Path | None = Field(None, description="SQLite outbox; default <state_dir>/uplink/outbox.db")
    outbox_max_bytes: int = Field(1 << 30, ge=1 << 20, description="size cap; P2 evicted first, then P1")
    ttl_p1_s: float = Field(7 * 86400.0, gt=0, description="normal events older than this are dropped")
    ttl_p2_s: float = Field(86400.0, gt=0, description="telemetry older than this is dropped")
    max_event_bytes: int = Field(256 << 10, ge=1024, description="larger events are refused and counted")
    commit_max_events: int = Field(
        500, ge=1, le=500, description="group commit: at most this many per commit"
    )
    batch_max_events: int = Field(500, ge=1, le=500)
    batch_max_bytes: int = Field(64 << 10, ge=1024, le=64 << 10, description="uncompressed size of a batch")
    window: int = Field(8, ge=1, le=64, description="batches in flight")
    compression: Literal["zstd", "none"] = "zstd"
    ack_timeout_s: float = Field(10.0, gt=0, description="no ack this long: the link is treated as dead")
    heartbeat_ivl_s: float = Field(1.0, gt=0)
    heartbeat_timeout_s: float = Field(3.0, gt=0)
    handshake_timeout_s: float = Field(3.0, gt=0)
    backoff_min_s: float = Field(1.0, gt=0)
    backoff_max_s: float = Field(10.0, gt=0)
    file_chunk_bytes: int = Field(64 << 10, ge=1024, le=1 << 20)
    summary_interval_s: float = Field(60.0, ge=1)
    door_command_timeout_s: float = Field(3.0, gt=0, le=30)

    @model_validator(mode="after")
    def _server_needs_key(self) -> UplinkConfig:
        if self.server and not self.server_public_key:
            raise ValueError("server_public_key is required when server is set (the server's key is pinned)")
        if self.backoff_max_s < self.backoff_min_s:
            raise ValueError("backoff_max_s must be >= backoff_min_s")
        return self
