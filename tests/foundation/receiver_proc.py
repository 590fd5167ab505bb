"""A reliable-channel receiver in its own process, storing events in SQLite (for kill -9 tests).

Usage: python receiver_proc.py ENDPOINT DB INCARNATION
"""

from __future__ import annotations

import signal
import sqlite3
import sys

import zmq

from edged.bus.reliable import EventReceiver
from edged.events import Event


def main() -> None:
    endpoint, db_path, incarnation = sys.argv[1], sys.argv[2], int(sys.argv[3])
    db = sqlite3.connect(db_path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE IF NOT EXISTS events (id TEXT PRIMARY KEY, seq INTEGER)")
    db.execute("CREATE TABLE IF NOT EXISTS deliveries (id TEXT, incarnation INTEGER)")

    def store(events: list[Event]) -> None:
        db.execute("BEGIN")
        db.executemany(
            "INSERT OR IGNORE INTO events VALUES (?, ?)", [(e["id"], e["data"]["seq"]) for e in events]
        )
        db.executemany("INSERT INTO deliveries VALUES (?, ?)", [(e["id"], incarnation) for e in events])
        db.execute("COMMIT")

    ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    receiver = EventReceiver(ctx, endpoint, "test", store)
    running = True

    def stop(*_: object) -> None:
        nonlocal running
        running = False

    signal.signal(signal.SIGTERM, stop)
    print("ready", flush=True)
    while running:
        receiver.poll(100)
    receiver.close()
    ctx.term()


if __name__ == "__main__":
    main()
