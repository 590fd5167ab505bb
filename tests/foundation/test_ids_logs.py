"""UUIDv7 ids and the JSON log format."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid

from edged.events import new_event, utc_iso, validate_event
from edged.ids import new_id, uuid7_time_ms


def test_uuid7_layout_and_order() -> None:
    ids = [new_id() for _ in range(5000)]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)  # strictly increasing within a process
    parsed = uuid.UUID(ids[0])
    assert parsed.version == 7 and parsed.variant == uuid.RFC_4122
    assert abs(uuid7_time_ms(ids[-1]) - time.time() * 1000) < 5000


def test_new_event_has_the_design_schema() -> None:
    event = validate_event(new_event("fever", "thermal-gate-1", {"temp_c": 38.1}, priority=0))
    assert event["ts"].endswith("Z") and len(event["ts"]) == len("2026-11-29T17:21:40.150Z")
    assert utc_iso(0) == "1970-01-01T00:00:00.000Z"


def test_logs_are_json_lines_with_context_and_redacted_secrets() -> None:
    code = (
        "from edged.logs import configure_logging; import structlog;"
        "configure_logging('info', 'auto', worker='doors:a', pid=1);"
        "structlog.get_logger('t').info('unlock', door='d1', scbk='00112233', password='x', api_key='k')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    line = json.loads(out.strip().splitlines()[-1])
    assert line["event"] == "unlock" and line["worker"] == "doors:a" and line["level"] == "info"
    assert line["timestamp"].endswith("Z")
    assert line["scbk"] == line["password"] == line["api_key"] == "[redacted]"
    assert line["door"] == "d1"
