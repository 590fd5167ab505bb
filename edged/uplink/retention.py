"""Lane accounting and the rules that remove events without delivery (cap and TTL).

Lanes: P0 critical, P1 normal, P2 telemetry. The size cap evicts P2 first, then P1, and P0
only when both are empty, oldest first within a lane; it evicts down to 99% of the cap so a
full outbox does not evict on every insert (nor a lot at once). TTLs: P1 7 days, P2 24 hours, P0 none. Callers
count every eviction (`edged_uplink_evictions_total{priority,reason}`).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field

from edged.uplink import metrics as m

EVICT_ORDER = (2, 1, 0)
HEADROOM = 0.99  # evict ~1% of the cap at a time: a few MB, never seconds inside one commit
EXPIRE_CHUNK = 5000  # TTL deletes per lane per transaction, so a sweep never stalls ingest


@dataclass
class Lanes:
    """Events and accounted bytes per priority, kept in memory by the writer thread."""

    count: dict[int, int] = field(default_factory=lambda: {0: 0, 1: 0, 2: 0})
    bytes: dict[int, int] = field(default_factory=lambda: {0: 0, 1: 0, 2: 0})

    @classmethod
    def load(cls, conn: sqlite3.Connection) -> Lanes:
        lanes = cls()
        lanes.reload(conn)
        return lanes

    def reload(self, conn: sqlite3.Connection) -> None:
        self.count = {0: 0, 1: 0, 2: 0}
        self.bytes = {0: 0, 1: 0, 2: 0}
        for prio, n, size in conn.execute(
            "SELECT priority, COUNT(*), SUM(size) FROM events GROUP BY priority"
        ):
            self.count[prio], self.bytes[prio] = n, size or 0

    def total_bytes(self) -> int:
        return sum(self.bytes.values())

    def add(self, prio: int, size: int) -> None:
        self.count[prio] += 1
        self.bytes[prio] += size

    def remove(self, prio: int, size: int) -> None:
        self.count[prio] -= 1
        self.bytes[prio] -= size

    def delete(self, conn: sqlite3.Connection, seqs: list[int]) -> None:
        """Delete acked rows (and files rows of events whose files are done) by seq."""
        for i in range(0, len(seqs), 500):
            chunk = seqs[i : i + 500]
            marks = ",".join("?" * len(chunk))
            for prio, size in conn.execute(
                f"DELETE FROM events WHERE seq IN ({marks}) RETURNING priority, size", chunk
            ).fetchall():
                self.remove(prio, size)

    def snapshot(self) -> tuple[dict[int, int], dict[int, int]]:
        return dict(self.count), dict(self.bytes)

    def restore(self, snap: tuple[dict[int, int], dict[int, int]]) -> None:
        self.count, self.bytes = dict(snap[0]), dict(snap[1])

    def publish(self) -> None:
        for prio in (0, 1, 2):
            m.OUTBOX_EVENTS.labels(str(prio)).set(self.count[prio])
            m.OUTBOX_BYTES.labels(str(prio)).set(self.bytes[prio])


class Retention:
    def __init__(self, lanes: Lanes, max_bytes: int, ttl_s: dict[int, float]) -> None:
        self.lanes = lanes
        self.max_bytes = max_bytes
        self.ttl_s = ttl_s

    def make_room(self, conn: sqlite3.Connection, incoming: int) -> dict[int, int]:
        """Evict (inside the caller's transaction) so that `incoming` bytes fit under the cap."""
        evicted: dict[int, int] = {}
        if self.lanes.total_bytes() + incoming <= self.max_bytes:
            return evicted
        target = int(self.max_bytes * HEADROOM) - incoming
        for prio in EVICT_ORDER:
            while self.lanes.total_bytes() > target and self.lanes.count[prio] > 0:
                excess = self.lanes.total_bytes() - target
                n = self._evict_bytes(conn, prio, excess)
                if n == 0:
                    break
                evicted[prio] = evicted.get(prio, 0) + n
        return evicted

    def _evict_bytes(self, conn: sqlite3.Connection, prio: int, excess: int) -> int:
        """Delete the oldest rows of a lane until at least `excess` bytes are freed."""
        avg = max(1, self.lanes.bytes[prio] // max(1, self.lanes.count[prio]))
        limit = max(1, min(self.lanes.count[prio], excess // avg + 1))
        return self._delete_oldest(conn, prio, limit)

    def evict_lane(self, conn: sqlite3.Connection, prio: int, limit: int) -> int:
        return self._delete_oldest(conn, prio, limit)

    def _delete_oldest(self, conn: sqlite3.Connection, prio: int, limit: int) -> int:
        rows = conn.execute(
            "DELETE FROM events WHERE seq IN "
            "(SELECT seq FROM events WHERE priority=? ORDER BY created_ms, seq LIMIT ?) RETURNING id, size",
            (prio, limit),
        ).fetchall()
        self._drop_files(conn, [r[0] for r in rows])
        for _, size in rows:
            self.lanes.remove(prio, size)
        return len(rows)

    def expire(self, conn: sqlite3.Connection, now_ms: int, limit: int = EXPIRE_CHUNK) -> dict[int, int]:
        """Delete up to `limit` events per lane past the lane's TTL (in the caller's transaction),
        oldest first; a lane that returns `limit` has more to expire."""
        out: dict[int, int] = {}
        for prio, ttl in sorted(self.ttl_s.items()):
            cutoff = now_ms - int(ttl * 1000)
            rows = conn.execute(
                "DELETE FROM events WHERE seq IN (SELECT seq FROM events WHERE priority=? AND created_ms < ? "
                "ORDER BY created_ms LIMIT ?) RETURNING id, size",
                (prio, cutoff, limit),
            ).fetchall()
            self._drop_files(conn, [r[0] for r in rows])
            for _, size in rows:
                self.lanes.remove(prio, size)
            if rows:
                out[prio] = len(rows)
                m.EVICTIONS.labels(str(prio), "ttl").inc(len(rows))
        return out

    @staticmethod
    def _drop_files(conn: sqlite3.Connection, ids: list[bytes]) -> None:
        """An evicted event's evidence files will never be wanted by the server."""
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            conn.execute(f"DELETE FROM files WHERE event_id IN ({','.join('?' * len(chunk))})", chunk)
