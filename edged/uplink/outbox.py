"""The durable outbox: one writer thread, group commit, priority lanes, TTLs and a size cap.

Producers call `append(events)`, which returns only after the events are committed (or raises
`OutboxWriteError`): that is when the uplink worker may ack them to the bus. A commit starts as
soon as the writer is free; whatever arrives during a commit forms the next group, cut at
`commit_max_events`, so commits are never later than one commit time (≤ 50 ms on a sane disk)
and never larger than 500 events under load. Deletions (server acks) ride along in the same
transactions. The sender reads through its own connection (`OutboxReader`).
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

from edged.events import InvalidEvent, validate_event
from edged.uplink import metrics as m
from edged.uplink.protocol import encode_event
from edged.uplink.retention import EXPIRE_CHUNK, Lanes, Retention
from edged.uplink.store import ROW_OVERHEAD, OpenReport, open_outbox

log = structlog.get_logger()
FILE_KEYS = ("clip", "snapshot")


class OutboxWriteError(RuntimeError):
    """A commit failed (disk full, I/O error): nothing of the group was stored; resend later."""


@dataclass
class AppendResult:
    accepted: int = 0
    duplicates: int = 0
    refused: int = 0


@dataclass
class _Append:
    rows: list[tuple[bytes, int, int, int, bytes]]
    files: list[tuple[bytes, str, str, int]]
    result: AppendResult
    done: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None


@dataclass
class _Op:
    fn: Callable[[sqlite3.Connection], Any]
    done: threading.Event = field(default_factory=threading.Event)
    value: Any = None
    error: BaseException | None = None


def _created_ms(eid: bytes) -> int:
    """Creation time from a UUIDv7 id (48-bit Unix ms prefix); ingest time for other UUIDs."""
    if eid[6] >> 4 == 7:
        return int.from_bytes(eid[:6], "big")
    return int(time.time() * 1000)


class Outbox:
    def __init__(
        self,
        path: Path,
        *,
        max_bytes: int = 1 << 30,
        ttl_s: dict[int, float] | None = None,
        max_event_bytes: int = 256 << 10,
        commit_max_events: int = 500,
    ) -> None:
        self.path = path
        self.max_event_bytes = max_event_bytes
        self.commit_max_events = commit_max_events
        self._conn, self.report = open_outbox(path)
        if self.report.corrupt_moved_to is not None:
            m.CORRUPT.inc()
        self.lanes = Lanes.load(self._conn)
        self.retention = Retention(self.lanes, max_bytes, ttl_s or {1: 7 * 86400.0, 2: 86400.0})
        self._queue: deque[_Append | _Op | list[int]] = deque()
        self._cond = threading.Condition()
        self._closing = False
        self._last_error_log = -1e9
        self.commits = 0  # bumped after every commit: the sender's cheap "anything new?" check
        self._thread = threading.Thread(target=self._run, name="outbox-writer", daemon=True)
        self._thread.start()

    # -- producer side -----------------------------------------------------------------
    def append(self, events: Sequence[dict[str, Any]], timeout: float | None = None) -> AppendResult:
        """Store events durably; return after the commit. Bad or oversized events are refused."""
        step = self.commit_max_events
        items = [self._prepare(events[i : i + step]) for i in range(0, len(events), step)]
        for item in items:  # queued together: consecutive groups, no commit waits for the next
            if item.rows:
                self._put(item)
        total = AppendResult()
        for item in items:
            if item.rows:
                if not item.done.wait(timeout):
                    raise OutboxWriteError("outbox commit timed out")
                if item.error is not None:
                    raise OutboxWriteError(str(item.error)) from item.error
            total.accepted += item.result.accepted
            total.duplicates += item.result.duplicates
            total.refused += item.result.refused
        return total

    def _prepare(self, events: Sequence[dict[str, Any]]) -> _Append:
        item = _Append([], [], AppendResult())
        for event in events:
            try:
                validate_event(event)
                eid = bytes.fromhex(event["id"].replace("-", ""))  # 6x cheaper than uuid.UUID
                if len(eid) != 16:
                    raise ValueError("event id is not a UUID")
                body = encode_event(event)
            except (InvalidEvent, TypeError, ValueError) as exc:
                self._refuse("invalid", exc)
                item.result.refused += 1
                continue
            if len(body) > self.max_event_bytes:
                self._refuse("too_large", None)
                item.result.refused += 1
                continue
            prio = event["priority"]
            item.rows.append((eid, prio, _created_ms(eid), len(body) + ROW_OVERHEAD, body))
            data = event["data"]
            for key in FILE_KEYS:
                path = data.get(key)
                if isinstance(path, str) and path:
                    item.files.append((eid, key, path, prio))
        return item

    def _refuse(self, reason: str, exc: BaseException | None) -> None:
        m.REFUSED.labels(reason).inc()
        log.warning("outbox_event_refused", reason=reason, error=str(exc) if exc else None)

    # -- sender side -------------------------------------------------------------------
    def delete(self, seqs: Sequence[int]) -> None:
        """Rows the server acked; removed in the next commit (a crash before it only resends)."""
        if seqs:
            self._put(list(seqs))

    def call(self, fn: Callable[[sqlite3.Connection], Any], timeout: float | None = 30.0) -> Any:
        """Run `fn(conn)` in the writer thread inside a transaction; return its value."""
        op = _Op(fn)
        self._put(op)
        if not op.done.wait(timeout):
            raise OutboxWriteError("outbox operation timed out")
        if op.error is not None:
            raise op.error
        return op.value

    def submit(self, fn: Callable[[sqlite3.Connection], Any]) -> None:
        """Like `call`, without waiting for the result (bookkeeping the sender can redo)."""
        self._put(_Op(fn))

    def sweep(self, now_ms: int | None = None) -> dict[int, int]:
        """Drop every event past its lane's TTL (chunked transactions); returns evictions by priority."""
        when = now_ms if now_ms is not None else int(time.time() * 1000)
        total: dict[int, int] = {}
        while True:
            done: dict[int, int] = self.call(lambda conn: self.retention.expire(conn, when))
            for prio, n in done.items():
                total[prio] = total.get(prio, 0) + n
            if all(n < EXPIRE_CHUNK for n in done.values()):
                return total

    def sweep_async(self) -> None:
        """One chunk of TTL expiry, queued to the writer (the worker's loop must not wait)."""
        when = int(time.time() * 1000)
        self.submit(lambda conn: self.retention.expire(conn, when))

    def close(self) -> None:
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._thread.join(timeout=30)
        self._conn.close()

    # -- the writer thread -------------------------------------------------------------
    def _put(self, item: _Append | _Op | list[int]) -> None:
        with self._cond:
            if self._closing:
                raise OutboxWriteError("outbox is closed")
            self._queue.append(item)
            self._cond.notify()

    def _take(self) -> list[_Append | _Op | list[int]] | None:
        with self._cond:
            while not self._queue and not self._closing:
                self._cond.wait()
            if not self._queue:
                return None
            group: list[_Append | _Op | list[int]] = []
            n = 0
            while self._queue and (n < self.commit_max_events or not group):
                item = self._queue[0]
                if isinstance(item, _Append):
                    if group and n + len(item.rows) > self.commit_max_events:
                        break
                    n += len(item.rows)
                self._queue.popleft()
                group.append(item)
            return group

    def _run(self) -> None:
        while True:
            group = self._take()
            if group is None:
                return
            try:
                self._commit(group)
            except Exception as exc:  # never let the writer die: fail this group, keep going
                if not isinstance(exc, sqlite3.OperationalError):  # those are counted and logged
                    log.exception("outbox_writer_error", error=str(exc))
                for item in group:
                    if isinstance(item, _Append | _Op) and not item.done.is_set():
                        item.error = exc
                        item.done.set()

    def _commit(self, group: list[_Append | _Op | list[int]]) -> None:
        appends = [g for g in group if isinstance(g, _Append)]
        started = time.perf_counter()
        try:
            self._write(group, appends)
        except sqlite3.OperationalError as exc:
            self._rollback()
            reason = "disk_full" if "full" in str(exc).lower() else "io_error"
            m.WRITE_ERRORS.labels(reason).inc()
            now = time.monotonic()
            if now - self._last_error_log >= 10.0:  # a full disk fails every commit: log once a while
                self._last_error_log = now
                log.error(
                    "outbox_commit_failed",
                    reason=reason,
                    error=str(exc),
                    events=sum(len(a.rows) for a in appends),
                )
            if reason == "disk_full":
                self._make_room()
            raise
        except BaseException:
            self._rollback()
            raise
        m.COMMIT_SECONDS.observe(time.perf_counter() - started)
        m.COMMIT_EVENTS.observe(sum(len(a.rows) for a in appends))
        self.commits += 1
        for item in appends:
            item.done.set()
        for g in group:
            if isinstance(g, _Op):
                g.done.set()

    def _write(self, group: list[_Append | _Op | list[int]], appends: list[_Append]) -> None:
        conn = self._conn
        lanes_before = self.lanes.snapshot()
        conn.execute("BEGIN IMMEDIATE")
        try:
            incoming = sum(r[3] for a in appends for r in a.rows)
            evicted = self.retention.make_room(conn, incoming) if incoming else {}
            for item in group:
                if isinstance(item, _Append):
                    self._insert(conn, item)
                elif isinstance(item, _Op):
                    try:
                        item.value = item.fn(conn)
                    except sqlite3.OperationalError:
                        raise
                    except Exception as exc:  # the op's own error: report it, keep the group
                        item.error = exc
                else:
                    self.lanes.delete(conn, item)
            conn.execute("COMMIT")
        except BaseException:
            self.lanes.restore(lanes_before)
            raise
        for prio, n in evicted.items():
            m.EVICTIONS.labels(str(prio), "cap").inc(n)
        for item in appends:
            for prio in {r[1] for r in item.rows}:
                m.ACCEPTED.labels(str(prio)).inc(sum(1 for r in item.rows if r[1] == prio))
            m.DUPLICATES.inc(item.result.duplicates)

    def _insert(self, conn: sqlite3.Connection, item: _Append) -> None:
        cur = conn.executemany(
            "INSERT OR IGNORE INTO events(id, priority, created_ms, size, body) VALUES (?,?,?,?,?)", item.rows
        )
        item.result.accepted = cur.rowcount
        item.result.duplicates = len(item.rows) - cur.rowcount
        if item.result.duplicates:  # rare (a producer resent after a crash): recount exactly
            self.lanes.reload(conn)
        else:
            for row in item.rows:
                self.lanes.add(row[1], row[3])
        if item.files:
            conn.executemany(
                "INSERT OR IGNORE INTO files(event_id, name, path, priority) VALUES (?,?,?,?)", item.files
            )

    def _rollback(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self._conn.execute("ROLLBACK")

    def _make_room(self) -> None:
        """After SQLITE_FULL: evict some telemetry so the next commit can fit in freed pages."""
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            n = self.retention.evict_lane(self._conn, 2, 2000)
            self._conn.execute("COMMIT")
            if n:
                m.EVICTIONS.labels("2", "disk_full").inc(n)
                log.warning("outbox_evicted_for_disk_full", events=n)
        except sqlite3.Error as exc:
            self._rollback()
            self.lanes.reload(self._conn)
            log.error("outbox_make_room_failed", error=str(exc))


__all__ = ["AppendResult", "OpenReport", "Outbox", "OutboxWriteError"]
