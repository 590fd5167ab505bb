"""The box ↔ server wire protocol (docs/uplink-protocol.md is the spec for server teams).

Every ZeroMQ message is one frame: a msgpack map ``{"v": UPLINK_PROTOCOL, "k": kind, "b": body}``.
Batches carry their events as one msgpack array, compressed with zstd. The uncompressed size
of a batch is bounded (64 KiB by default), so a receiver can refuse decompression bombs by
capping the output size.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import msgpack
import zstandard

UPLINK_PROTOCOL = 1
MAX_BATCH_RAW_BYTES = 4 << 20  # receiver-side hard limit on a decompressed batch

# box -> server
HELLO = "hello"
BATCH = "batch"
FILE = "file"
RESULT = "result"
# server -> box
WELCOME = "welcome"
ACK = "ack"
NACK = "nack"
FILE_ACK = "file_ack"
CMD = "cmd"

BOX_KINDS = frozenset({HELLO, BATCH, FILE, RESULT})
SERVER_KINDS = frozenset({WELCOME, ACK, NACK, FILE_ACK, CMD})

_ZC = zstandard.ZstdCompressor(level=3)
_ZD = zstandard.ZstdDecompressor()


class ProtocolError(ValueError):
    """A message that does not follow the protocol; the receiver drops it and counts it."""


@dataclass(frozen=True)
class Message:
    kind: str
    body: dict[str, Any]


def pack(kind: str, body: dict[str, Any]) -> bytes:
    return msgpack.packb({"v": UPLINK_PROTOCOL, "k": kind, "b": body}, use_bin_type=True)


def unpack(frame: bytes, kinds: frozenset[str]) -> Message:
    try:
        obj = msgpack.unpackb(frame, raw=False, strict_map_key=True)
    except Exception as exc:  # msgpack raises several unrelated types on garbage
        raise ProtocolError(f"not msgpack: {exc}") from exc
    if not isinstance(obj, dict):
        raise ProtocolError("message is not a map")
    if obj.get("v") != UPLINK_PROTOCOL:
        raise ProtocolError(f"unsupported protocol version {obj.get('v')!r}")
    kind, body = obj.get("k"), obj.get("b")
    if kind not in kinds:
        raise ProtocolError(f"unexpected kind {kind!r}")
    if not isinstance(body, dict):
        raise ProtocolError("body is not a map")
    return Message(kind, body)


def array_header(count: int) -> bytes:
    """The msgpack header of an array of `count` items, so pre-encoded events can be joined."""
    if count < 16:
        return bytes([0x90 | count])
    if count < 1 << 16:
        return b"\xdc" + count.to_bytes(2, "big")
    return b"\xdd" + count.to_bytes(4, "big")


def encode_events(bodies: list[bytes], codec: str) -> tuple[bytes, int]:
    """Join msgpack-encoded events into one array; returns (payload, uncompressed size)."""
    raw = array_header(len(bodies)) + b"".join(bodies)
    if codec == "zstd":
        return _ZC.compress(raw), len(raw)
    return raw, len(raw)


def decode_events(data: bytes, codec: str, max_raw: int = MAX_BATCH_RAW_BYTES) -> list[Any]:
    """Decompress (bounded) and decode a batch payload into a list of event maps."""
    if codec == "zstd":
        try:
            # A frame that states its size is decompressed to exactly that size, ignoring
            # max_output_size, so the stated size is checked first (decompression bombs).
            stated = zstandard.frame_content_size(data)
            if stated > max_raw:
                raise ProtocolError("batch too large")
            raw = _ZD.decompress(data, max_output_size=max_raw)
        except zstandard.ZstdError as exc:
            raise ProtocolError(f"bad zstd payload: {exc}") from exc
        if len(raw) > max_raw:
            raise ProtocolError("batch too large")
    elif codec == "none":
        raw = data
    else:
        raise ProtocolError(f"unknown codec {codec!r}")
    try:
        events = msgpack.unpackb(raw, raw=False, strict_map_key=True)
    except Exception as exc:
        raise ProtocolError(f"batch is not msgpack: {exc}") from exc
    if not isinstance(events, list):
        raise ProtocolError("batch payload is not an array")
    return events


_local = threading.local()


def encode_event(event: dict[str, Any]) -> bytes:
    """msgpack with a per-thread Packer (half the cost of `packb`, which builds one per call)."""
    packer = getattr(_local, "packer", None)
    if packer is None:
        packer = _local.packer = msgpack.Packer(use_bin_type=True)
    out: bytes = packer.pack(event)
    return out


def decode_event(body: bytes) -> dict[str, Any]:
    obj = msgpack.unpackb(body, raw=False, strict_map_key=True)
    if not isinstance(obj, dict):
        raise ProtocolError("event is not a map")
    return obj
