"""Evidence file chunks on the receiver: written at their offset, fsynced, offset recorded.

A chunk is accepted only at the offset the receiver already holds; any other offset is
answered with the held offset, so the box resumes exactly there (after a reconnect, a box
restart or a receiver restart). The last chunk is checked against the box's SHA-256 before
the `.part` file takes its final name; on a mismatch the transfer restarts from 0.
"""

from __future__ import annotations

import hashlib
import os
import re
import sqlite3
from pathlib import Path
from typing import Any

SAFE = re.compile(r"[^A-Za-z0-9_.-]")
MAX_FILE_BYTES = 2 << 30


class FileStore:
    def __init__(self, db: sqlite3.Connection, root: Path) -> None:
        self.db = db
        self.root = root

    def chunk(self, site: str, body: dict[str, Any]) -> dict[str, Any]:
        event_id, name, data = body.get("event_id"), body.get("name"), body.get("data")
        size, offset = body.get("size"), body.get("offset")
        reply: dict[str, Any] = {"event_id": event_id, "name": name}
        if not (isinstance(event_id, str) and isinstance(name, str) and isinstance(data, bytes)):
            return {**reply, "error": "malformed chunk"}
        if not (isinstance(size, int) and isinstance(offset, int) and 0 <= size <= MAX_FILE_BYTES):
            return {**reply, "error": "bad size or offset"}
        filename = SAFE.sub("_", str(body.get("filename") or name))[:120] or "file"
        row = self.db.execute(
            "SELECT received, done FROM files WHERE site=? AND event_id=? AND name=?", (site, event_id, name)
        ).fetchone()
        final = (
            self.root / SAFE.sub("_", site) / SAFE.sub("_", event_id) / f"{SAFE.sub('_', name)}-{filename}"
        )
        if row is None:
            self.db.execute(
                "INSERT INTO files(site, event_id, name, filename, size, path) VALUES (?,?,?,?,?,?)",
                (site, event_id, name, filename, size, str(final)),
            )
            held, done = 0, 0
        else:
            held, done = row
        if done:
            return {**reply, "next": size}
        if offset != held or offset + len(data) > size:
            return {**reply, "next": held}
        part = final.with_name(final.name + ".part")
        part.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(part, os.O_WRONLY | os.O_CREAT, 0o640)
        try:
            os.pwrite(fd, data, offset)
            os.fsync(fd)
        finally:
            os.close(fd)
        held = offset + len(data)
        if held >= size:
            digest = body.get("sha256")
            if isinstance(digest, str) and digest != _sha256(part):
                part.unlink(missing_ok=True)
                self.db.execute(
                    "UPDATE files SET received=0 WHERE site=? AND event_id=? AND name=?",
                    (site, event_id, name),
                )
                return {**reply, "next": 0}
            os.replace(part, final)
            self.db.execute(
                "UPDATE files SET received=?, sha256=?, done=1 WHERE site=? AND event_id=? AND name=?",
                (held, digest, site, event_id, name),
            )
            return {**reply, "next": size}
        self.db.execute(
            "UPDATE files SET received=? WHERE site=? AND event_id=? AND name=?", (held, site, event_id, name)
        )
        return {**reply, "next": held}


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
