"""The outbox's SQLite file: schema, pragmas, and the start-up integrity check.

WAL with `synchronous=FULL` makes every commit durable across power loss (the WAL is fsynced
at each commit), while readers (the sender) never block the writer. `quick_check` runs at
start; a file that fails it is moved aside with its -wal/-shm (kept for forensics) and a fresh
outbox is started, so a damaged disk never stops the box from working.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

import structlog

SCHEMA = """
CREATE TABLE IF NOT EXISTS events(
    seq INTEGER PRIMARY KEY AUTOINCREMENT,   -- monotonic: the sender's per-lane cursor relies on it
    id BLOB NOT NULL UNIQUE,                 -- 16-byte UUID: producers resend, the outbox dedupes
    priority INTEGER NOT NULL,
    created_ms INTEGER NOT NULL,
    size INTEGER NOT NULL,                   -- accounted bytes (body + row overhead)
    body BLOB NOT NULL                       -- the event, msgpack
);
CREATE INDEX IF NOT EXISTS events_lane ON events(priority, seq);
CREATE INDEX IF NOT EXISTS events_age ON events(priority, created_ms);
CREATE TABLE IF NOT EXISTS files(
    event_id BLOB NOT NULL,
    name TEXT NOT NULL,                      -- the event's data key: clip, snapshot
    path TEXT NOT NULL,
    priority INTEGER NOT NULL,
    sent INTEGER NOT NULL DEFAULT 0,         -- bytes the server has acked
    PRIMARY KEY(event_id, name)
);
CREATE TABLE IF NOT EXISTS commands(
    id TEXT PRIMARY KEY,                     -- downlink command id: a resent command is not run twice
    name TEXT NOT NULL,
    received_ms INTEGER NOT NULL,
    result BLOB NOT NULL
);
"""

ROW_OVERHEAD = 96  # id, seq, indexes: what a row costs beyond its body, for the size cap

log = structlog.get_logger()


@dataclass(frozen=True)
class OpenReport:
    path: Path
    corrupt_moved_to: Path | None
    problem: str | None


def connect(path: Path, *, readonly: bool = False) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30.0)
    conn.execute("PRAGMA busy_timeout=30000")
    if not readonly:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
    return conn


def _check(path: Path) -> str | None:
    """None when the file is a healthy outbox (or does not exist), else what is wrong."""
    if not path.exists():
        return None
    try:
        conn = sqlite3.connect(path, isolation_level=None)
        try:
            rows = conn.execute("PRAGMA quick_check").fetchall()
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        return str(exc)
    if rows != [("ok",)]:
        return "; ".join(str(r[0]) for r in rows[:5])
    return None


def _move_aside(path: Path) -> Path:
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 1
    while target.exists():
        target = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
        n += 1
    for suffix in ("", "-wal", "-shm"):
        src = Path(f"{path}{suffix}")
        if src.exists():
            src.rename(Path(f"{target}{suffix}"))
    return target


def open_outbox(path: Path) -> tuple[sqlite3.Connection, OpenReport]:
    """Open (creating) the outbox; a corrupt file is moved aside and replaced by a fresh one."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    problem = _check(path)
    moved: Path | None = None
    if problem is not None:
        moved = _move_aside(path)
        log.error("outbox_corrupt_moved_aside", path=str(path), moved_to=str(moved), problem=problem)
    try:
        conn = connect(path)
        conn.executescript(SCHEMA)
    except sqlite3.DatabaseError as exc:  # passed quick_check yet unusable (e.g. a foreign schema)
        if moved is not None:
            raise
        problem = f"cannot use: {exc}"
        moved = _move_aside(path)
        log.error("outbox_corrupt_moved_aside", path=str(path), moved_to=str(moved), problem=problem)
        conn = connect(path)
        conn.executescript(SCHEMA)
    return conn, OpenReport(path, moved, problem)
