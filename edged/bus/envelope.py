"""The wire envelope: a msgpack map ``{"v": version, "k": kind, "b": body}``.

One envelope for every socket keeps version checks and malformed-input handling in one place.
Receivers reject unknown versions and kinds rather than guessing.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import msgpack

PROTOCOL_VERSION = 1
MAX_MESSAGE_BYTES = 16 << 20


class MalformedMessage(ValueError):
    """A frame that is not a valid envelope of an expected kind."""


@dataclass(frozen=True, slots=True)
class Envelope:
    kind: str
    body: Any
    version: int = PROTOCOL_VERSION


def pack(kind: str, body: Any) -> bytes:
    return msgpack.packb({"v": PROTOCOL_VERSION, "k": kind, "b": body}, use_bin_type=True)


def unpack(frame: bytes | memoryview, kinds: Collection[str] | None = None) -> Envelope:
    if len(frame) > MAX_MESSAGE_BYTES:
        raise MalformedMessage(f"message of {len(frame)} bytes exceeds {MAX_MESSAGE_BYTES}")
    try:
        obj = msgpack.unpackb(frame, raw=False, strict_map_key=False)
    except Exception as exc:  # msgpack raises several unrelated types for bad input
        raise MalformedMessage(f"not msgpack: {type(exc).__name__}") from exc
    if not isinstance(obj, dict) or not {"v", "k", "b"} <= obj.keys():
        raise MalformedMessage("not an envelope")
    if obj["v"] != PROTOCOL_VERSION:
        raise MalformedMessage(f"unsupported protocol version {obj['v']!r}")
    kind = obj["k"]
    if not isinstance(kind, str) or (kinds is not None and kind not in kinds):
        raise MalformedMessage(f"unexpected kind {kind!r}")
    return Envelope(kind=kind, body=obj["b"])
