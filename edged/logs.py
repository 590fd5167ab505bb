"""structlog set-up: JSON lines on stdout (pretty only on a TTY), UTC, secrets redacted."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

_SECRET = re.compile(r"(secret|password|passwd|token|private|scbk|master_key|api_key)", re.I)
_REDACTED = "[redacted]"


def _redact(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in list(event):
        if _SECRET.search(key):
            event[key] = _REDACTED
    return event


def configure_logging(level: str = "info", fmt: str = "auto", **context: Any) -> None:
    """Configure once per process; `context` (worker, kind, pid) is bound to every line."""
    pretty = fmt == "console" or (fmt == "auto" and sys.stdout.isatty())
    numeric = getattr(logging, level.upper(), logging.INFO)
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _redact,
        structlog.processors.format_exc_info,
        structlog.dev.ConsoleRenderer() if pretty else structlog.processors.JSONRenderer(),
    ]
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.WriteLoggerFactory(file=sys.stdout),
        cache_logger_on_first_use=False,
    )
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(**context)
    # Libraries that use stdlib logging go to stderr at warning and above.
    logging.basicConfig(
        level=max(numeric, logging.WARNING),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
