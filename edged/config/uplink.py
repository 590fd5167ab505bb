"""Delivery of events to the central community server."""

from __future__ import annotations

from pydantic import Field

from edged.config.base import Strict


class UplinkConfig(Strict):
    server: str | None = Field(None, description="tcp://host:port of the central server; none: outbox only")
    outbox_max_bytes: int = Field(1 << 30, ge=1 << 20)
