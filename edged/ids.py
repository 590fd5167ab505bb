"""UUIDv7 event ids (RFC 9562), minted where an event is born.

Python 3.11 has no ``uuid.uuid7``; the layout is 12 lines, so we write it rather than add a
dependency. Ids from one process are strictly increasing even within one millisecond (the
12-bit ``rand_a`` field is used as a counter), which keeps SQLite primary keys append-only.
"""

from __future__ import annotations

import os
import threading
import time
import uuid

_lock = threading.Lock()
_last_ms = 0
_counter = 0


def uuid7() -> uuid.UUID:
    global _last_ms, _counter
    with _lock:
        ms = time.time_ns() // 1_000_000
        if ms > _last_ms:
            _last_ms, _counter = ms, int.from_bytes(os.urandom(2), "big") & 0x3FF
        else:  # same millisecond (or clock stepped back): keep order with the counter
            _counter += 1
            if _counter > 0xFFF:
                _last_ms, _counter = _last_ms + 1, 0
            ms = _last_ms
    rand_b = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | _counter << 64 | 0b10 << 62 | rand_b
    return uuid.UUID(int=value)


def new_id() -> str:
    return str(uuid7())


def uuid7_time_ms(value: str) -> int:
    """Creation time (Unix ms) embedded in a UUIDv7 string."""
    return uuid.UUID(value).int >> 80
