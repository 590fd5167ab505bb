"""The reference receiver's SQLite database (WAL, synchronous=FULL): what it stores and how.

`events` has `UNIQUE(site, id)`: a box resends whatever it has no ack for, so a resend is a
no-op here and every event takes effect once. `commands` is also the downlink queue: any
process may insert a row (`enqueue_command`); the receiver sends it to the site's box and
writes the box's result back into the row.
"""

from __future__ import annotations

import base64
import json
import sqlite3
import time
from pathlib import Path
from typing import Any

from edged.ids import new_id

SCHEMA = """
CREATE TABLE IF NOT EXISTS events(
    seq INTEGER PRIMARY KEY,
    site TEXT NOT NULL,            -- from the authenticated key, never from the payload
    id TEXT NOT NULL,
    type TEXT NOT NULL,
    source TEXT NOT NULL,
    priority INTEGER NOT NULL,
    ts TEXT NOT NULL,
    data TEXT NOT NULL,            -- JSON
    received_at REAL NOT NULL,
    UNIQUE(site, id)
);
CREATE TABLE IF NOT EXISTS files(
    site TEXT NOT NULL, event_id TEXT NOT NULL, name TEXT NOT NULL,
    filename TEXT NOT NULL, size INTEGER NOT NULL, received INTEGER NOT NULL DEFAULT 0,
    path TEXT NOT NULL, sha256 TEXT, done INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY(site, event_id, name)
);
CREATE TABLE IF NOT EXISTS commands(
    id TEXT PRIMARY KEY, site TEXT NOT NULL, name TEXT NOT NULL, args TEXT NOT NULL,
    created_at REAL NOT NULL, sent_at REAL, result TEXT, done_at REAL
);
CREATE INDEX IF NOT EXISTS commands_pending ON commands(site) WHERE done_at IS NULL;
CREATE TABLE IF NOT EXISTS auth_failures(ts REAL NOT NULL, key TEXT, address TEXT, reason TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sessions(site TEXT PRIMARY KEY, last_hello REAL, box_version TEXT);
"""


def _json_default(obj: Any) -> Any:
    if isinstance(obj, bytes):
        return {"$base64": base64.b64encode(obj).decode()}
    return str(obj)


_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=_json_default)


def to_json(obj: Any) -> str:
    return _ENCODER.encode(obj)  # one encoder: json.dumps with options builds one per call


def connect(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30.0)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA busy_timeout=30000")
    conn.executescript(SCHEMA)
    return conn


def insert_events(
    conn: sqlite3.Connection, site: str, events: list[dict[str, Any]], now: float, which: bool = False
) -> list[int]:
    """INSERT OR IGNORE the events. With `which`, returns the indexes of the new ones (one
    statement per event); otherwise one executemany and a list as long as the new count."""
    rows = [
        (site, e["id"], e["type"], e["source"], e["priority"], str(e["ts"]), to_json(e["data"]), now)
        for e in events
    ]
    sql = (
        "INSERT OR IGNORE INTO events(site, id, type, source, priority, ts, data, received_at) "
        "VALUES (?,?,?,?,?,?,?,?)"
    )
    if not which:
        before = conn.total_changes
        conn.executemany(sql, rows)
        return list(range(conn.total_changes - before))
    return [i for i, row in enumerate(rows) if conn.execute(sql, row).rowcount == 1]


def enqueue_command(conn: sqlite3.Connection, site: str, name: str, args: dict[str, Any]) -> str:
    """Queue a downlink command for a site; the receiver delivers it. Returns its id."""
    cid = new_id()
    conn.execute(
        "INSERT INTO commands(id, site, name, args, created_at) VALUES (?,?,?,?,?)",
        (cid, site, name, to_json(args), time.time()),
    )
    return cid


def command_result(conn: sqlite3.Connection, cid: str) -> dict[str, Any] | None:
    row = conn.execute("SELECT result FROM commands WHERE id=? AND done_at IS NOT NULL", (cid,)).fetchone()
    if row is None:
        return None
    result: dict[str, Any] = json.loads(row[0])
    return result


def wait_command(path: Path, cid: str, timeout_s: float) -> dict[str, Any] | None:
    """Poll a receiver DB (from any process) until the command's result is in."""
    conn = sqlite3.connect(path, isolation_level=None, timeout=30.0)
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            result = command_result(conn, cid)
            if result is not None:
                return result
            time.sleep(0.05)
        return None
    finally:
        conn.close()
