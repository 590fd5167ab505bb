"""Drop, count and log (once per interval) what arrives malformed on a socket."""

from __future__ import annotations

import time

import structlog

from edged import metrics

_log = structlog.get_logger("edged.bus")


class MalformedCounter:
    def __init__(self, socket: str, log_interval_s: float = 60.0) -> None:
        self.socket = socket
        self._counter = metrics.BUS_MALFORMED.labels(socket=socket)
        self._interval = log_interval_s
        self._last_log = -float("inf")
        self._since_log = 0

    def drop(self, reason: object) -> None:
        self._counter.inc()
        self._since_log += 1
        now = time.monotonic()
        if now - self._last_log >= self._interval:
            _log.warning(
                "malformed message dropped",
                socket=self.socket,
                reason=str(reason),
                dropped_since_last_log=self._since_log,
            )
            self._last_log, self._since_log = now, 0
