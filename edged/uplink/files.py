"""Evidence files (clips, snapshots) follow their events to the server in resumable chunks.

A file is offered only once the server has acked its event. One chunk is in flight at a time
and only while no events are waiting, so files never delay events. The server answers each
chunk with the offset it holds durably; the box continues from there, so a transfer resumes
where it stopped after a reconnect or a restart (the acked offset is kept in the outbox).
A file still being written (modified in the last 2 s) or not there yet is retried later; one
still missing after `missing_after_s` is dropped and counted.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import time
import uuid
from dataclasses import dataclass
from typing import Any

import structlog

from edged.uplink import metrics as m
from edged.uplink.outbox import Outbox
from edged.uplink.reader import FileRow, OutboxReader

log = structlog.get_logger()
SETTLE_S = 2.0
RETRY_S = 5.0


@dataclass
class _InFlight:
    row: FileRow
    offset: int
    size: int
    sent_at: float


class FileShipper:
    def __init__(
        self, outbox: Outbox, reader: OutboxReader, chunk_bytes: int, missing_after_s: float = 600.0
    ):
        self.outbox = outbox
        self.reader = reader
        self.chunk_bytes = chunk_bytes
        self.missing_after_s = missing_after_s
        self.inflight: _InFlight | None = None
        self._offsets: dict[tuple[bytes, str], int] = {}  # acked offsets not yet written to the outbox
        self._skip_until: dict[tuple[bytes, str], float] = {}
        self._done: set[tuple[bytes, str]] = set()
        self._next_check = 0.0

    def reset(self) -> None:
        """The link was lost: the chunk in flight will be offered again from the acked offset."""
        self.inflight = None

    def next_chunk(self, now: float) -> dict[str, Any] | None:
        if self.inflight is not None or now < self._next_check:
            return None
        rows = self.reader.next_files()
        self._done &= {(r.event_id, r.name) for r in rows}  # forget files whose rows are gone
        for row in rows:
            key = (row.event_id, row.name)
            if key in self._done or self._skip_until.get(key, 0.0) > now:
                continue
            body = self._chunk(row, key, now)
            if body is not None:
                return body
        self._next_check = now + 1.0
        return None

    def _chunk(self, row: FileRow, key: tuple[bytes, str], now: float) -> dict[str, Any] | None:
        try:
            st = os.stat(row.path)
        except OSError:
            created = uuid.UUID(bytes=row.event_id).int >> 80
            if time.time() - created / 1000 > self.missing_after_s:
                self._finish(row, "missing")
            else:
                self._skip_until[key] = now + RETRY_S
            return None
        if time.time() - st.st_mtime < SETTLE_S:  # still being written
            self._skip_until[key] = now + SETTLE_S
            return None
        offset = min(self._offsets.get(key, row.sent), st.st_size)
        try:
            with open(row.path, "rb") as f:
                f.seek(offset)
                data = f.read(self.chunk_bytes)
                digest = _sha256(row.path) if offset + len(data) >= st.st_size else None
        except OSError as exc:
            log.warning("evidence_file_unreadable", path=row.path, error=str(exc))
            self._skip_until[key] = now + RETRY_S
            return None
        self.inflight = _InFlight(row, offset, st.st_size, now)
        body: dict[str, Any] = {
            "event_id": str(uuid.UUID(bytes=row.event_id)),
            "name": row.name,
            "filename": os.path.basename(row.path),
            "size": st.st_size,
            "offset": offset,
            "data": data,
        }
        if digest is not None:
            body["sha256"] = digest
        return body

    def on_ack(self, body: dict[str, Any]) -> None:
        cur = self.inflight
        if cur is None or body.get("event_id") != str(uuid.UUID(bytes=cur.row.event_id)):
            return
        if body.get("name") != cur.row.name:
            return
        self.inflight = None
        key = (cur.row.event_id, cur.row.name)
        nxt = body.get("next")
        if body.get("error"):
            log.warning("evidence_file_refused", path=cur.row.path, error=str(body["error"]))
            self._finish(cur.row, "refused")
            return
        if not isinstance(nxt, int) or nxt < 0:
            return
        m.FILE_BYTES.inc(max(0, nxt - cur.offset))
        if nxt >= cur.size:
            self._finish(cur.row, "delivered")
            return
        self._offsets[key] = nxt
        event_id, name = cur.row.event_id, cur.row.name
        self.outbox.submit(
            lambda conn: conn.execute(
                "UPDATE files SET sent=? WHERE event_id=? AND name=?", (nxt, event_id, name)
            )
        )

    def timed_out(self, now: float, timeout_s: float) -> bool:
        return self.inflight is not None and now - self.inflight.sent_at > timeout_s

    def _finish(self, row: FileRow, result: str) -> None:
        key = (row.event_id, row.name)
        self._done.add(key)
        self._offsets.pop(key, None)
        m.FILES_DONE.labels(result).inc()

        def drop(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM files WHERE event_id=? AND name=?", (row.event_id, row.name))

        self.outbox.submit(drop)


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
