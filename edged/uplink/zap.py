"""ZAP (ZeroMQ RFC 27) handler for the receiver: the allow-list is the keys directory itself.

The directory is re-read whenever it changes (checked on every handshake: a stat per file),
so adding a box takes effect on its next connection and removing its key file refuses it
from its next connection on, without a restart. The reply's User-Id is the box's public key;
the receiver maps it to the site on every message (re-checking the directory at most once a
second), so a revoked box's remaining messages on an old connection are refused as well.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import zmq
from zmq.utils import z85

from edged.uplink.keys import ALLOWED_DIR, read_allow_list

ZAP_ENDPOINT = "inproc://zeromq.zap.01"
AuthFailure = Callable[[str, str, str], None]  # (key z85, peer address, reason)


class AllowList:
    def __init__(self, keys_dir: Path) -> None:
        self.keys_dir = keys_dir
        self._sig: tuple[tuple[str, int, int], ...] | None = None
        self._keys: dict[bytes, str] = {}
        self.ever_allowed: set[bytes] = set()
        self._checked = -1e9

    def _signature(self) -> tuple[tuple[str, int, int], ...]:
        folder = self.keys_dir / ALLOWED_DIR
        try:
            entries = list(os.scandir(folder))
        except OSError:
            return ()
        sig = []
        for e in entries:
            try:
                st = e.stat()
            except OSError:
                continue
            sig.append((e.name, st.st_mtime_ns, st.st_size))
        return tuple(sorted(sig))

    def current(self, max_age_s: float = 0.0) -> dict[bytes, str]:
        """The allow-list, re-read if the directory changed (checked if older than `max_age_s`)."""
        now = time.monotonic()
        if now - self._checked >= max_age_s:
            self._checked = now
            sig = self._signature()
            if sig != self._sig:
                self._keys = read_allow_list(self.keys_dir)
                self.ever_allowed |= set(self._keys)
                self._sig = sig
        return self._keys

    def site_of(self, key: bytes) -> str | None:
        """Per message: at most one directory check a second (a handshake always checks)."""
        return self.current(max_age_s=1.0).get(key)


class ZapHandler:
    """Bound in the receiver's zmq context; polled from the receiver's own loop."""

    def __init__(
        self, ctx: zmq.Context[zmq.Socket[bytes]], allow: AllowList, on_failure: AuthFailure
    ) -> None:
        self.allow = allow
        self.on_failure = on_failure
        self.sock: zmq.Socket[bytes] = ctx.socket(zmq.REP)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.bind(ZAP_ENDPOINT)

    def handle(self) -> None:
        while True:
            try:
                frames = self.sock.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            self.sock.send_multipart(self._answer(frames))

    def _answer(self, frames: list[bytes]) -> list[bytes]:
        if len(frames) < 6:
            return [b"1.0", b"", b"500", b"malformed ZAP request", b"", b""]
        version, request_id, _domain, address, _identity, mechanism = frames[:6]
        if version != b"1.0":
            return [b"1.0", request_id, b"500", b"bad ZAP version", b"", b""]
        if mechanism != b"CURVE" or len(frames) < 7 or len(frames[6]) != 32:
            self.on_failure("", address.decode(errors="replace"), "not_curve")
            return [version, request_id, b"400", b"CURVE required", b"", b""]
        key = z85.encode(frames[6])
        if key in self.allow.current():
            return [version, request_id, b"200", b"OK", key, b""]
        reason = "revoked" if key in self.allow.ever_allowed else "unknown_key"
        self.on_failure(key.decode(), address.decode(errors="replace"), reason)
        return [version, request_id, b"400", b"key not allowed", b"", b""]

    def close(self) -> None:
        self.sock.close(linger=0)
