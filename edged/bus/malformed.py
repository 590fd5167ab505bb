"""Count every drop; log it at most once per interval (with how many since), never per message.

A flood of bad input must not become a flood of log lines, and no drop may go uncounted.
"""

from __future__ import annotations

import time
from typing import Any, Protocol

import structlog

from edged import metrics

_log = structlog.get_logger("edged.bus")


class _Inc(Protocol):
    def inc(self, amount: float = 1) -> None: ...


class DropCounter:
    def __init__(self, counter: _Inc, message: str, log_interval_s: float = 60.0, **context: Any) -> None:
        self._counter = counter
        self._message = message
        self._context = context
        self._interval = log_interval_s
        self._last_log = -float("inf")
        self._since_log = 0

    def drop(self, reason: object) -> None:
        self._counter.inc()
        self._since_log += 1
        now = time.monotonic()
        if now - self._last_log >= self._interval:
            _log.warning(
                self._message, reason=str(reason), dropped_since_last_log=self._since_log, **self._context
            )
            self._last_log, self._since_log = now, 0


class MalformedCounter(DropCounter):
    """`edged_bus_malformed_messages_total{socket}` for what arrives malformed on a socket."""

    def __init__(self, socket: str, log_interval_s: float = 60.0) -> None:
        super().__init__(
            metrics.BUS_MALFORMED.labels(socket=socket),
            "malformed message dropped",
            log_interval_s,
            socket=socket,
        )
        self.socket = socket
