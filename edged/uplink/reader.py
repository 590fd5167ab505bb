"""The sender's read-only view of the outbox (its own SQLite connection; WAL lets it read while
the writer commits).

Rows are read lane by lane (P0, then P1, then P2) after a per-lane cursor, so a batch starts
with whatever critical events are waiting: after an outage P0 drains first.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from edged.uplink import metrics as m
from edged.uplink.store import connect

ITEM_OVERHEAD = 8  # msgpack framing budgeted per event when sizing a batch


@dataclass(frozen=True)
class Row:
    seq: int
    priority: int
    created_ms: int
    body: bytes


@dataclass(frozen=True)
class FileRow:
    event_id: bytes
    name: str
    path: str
    priority: int
    sent: int


class OutboxReader:
    def __init__(self, path: Path) -> None:
        self._conn = connect(path, readonly=True)

    def fetch(self, cursors: dict[int, int], max_events: int, max_bytes: int) -> tuple[list[Row], bool]:
        """Next rows after the cursors, highest priority first, within the batch limits.

        Returns (rows, more): `more` is False when every lane is exhausted. Advances `cursors`.
        """
        rows: list[Row] = []
        size = 0
        for prio in (0, 1, 2):
            while len(rows) < max_events:
                want = max_events - len(rows)
                got = self._conn.execute(
                    "SELECT seq, created_ms, body FROM events "
                    "WHERE priority=? AND seq>? ORDER BY seq LIMIT ?",
                    (prio, cursors[prio], want),
                ).fetchall()
                for seq, created, body in got:
                    cost = len(body) + ITEM_OVERHEAD
                    if rows and size + cost > max_bytes:
                        return rows, True
                    rows.append(Row(seq, prio, created, body))
                    size += cost
                    cursors[prio] = seq
                if len(got) < want:
                    break
            if len(rows) >= max_events:
                return rows, True
        return rows, False

    def oldest_ms(self) -> dict[int, int | None]:
        out: dict[int, int | None] = {}
        for prio in (0, 1, 2):
            row = self._conn.execute(
                "SELECT MIN(created_ms) FROM events WHERE priority=?", (prio,)
            ).fetchone()
            out[prio] = row[0] if row else None
        return out

    def publish_ages(self, now: float | None = None) -> dict[int, float]:
        now_ms = (now if now is not None else time.time()) * 1000
        ages: dict[int, float] = {}
        for prio, oldest in self.oldest_ms().items():
            ages[prio] = max(0.0, (now_ms - oldest) / 1000) if oldest is not None else 0.0
            m.OLDEST_UNSENT_AGE.labels(str(prio)).set(ages[prio])
        return ages

    def next_files(self, limit: int = 16) -> list[FileRow]:
        """Evidence files whose events the server already has (their rows are gone)."""
        rows = self._conn.execute(
            "SELECT f.event_id, f.name, f.path, f.priority, f.sent FROM files f "
            "WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.id = f.event_id) "
            "ORDER BY f.priority, f.rowid LIMIT ?",
            (limit,),
        ).fetchall()
        return [FileRow(*r) for r in rows]

    def command_result(self, command_id: str) -> bytes | None:
        row = self._conn.execute("SELECT result FROM commands WHERE id=?", (command_id,)).fetchone()
        return row[0] if row else None

    def close(self) -> None:
        self._conn.close()
