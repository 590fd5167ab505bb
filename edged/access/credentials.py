"""The local credential store (SQLite on disk): decisions on the box with no network.

One row per (kind, value, door_group): resident cards, QR codes and PINs per door group, with
an optional validity window; visitor passes are rows with ``visitor=1`` and a window. A
``sync_version`` in ``meta`` lets the uplink apply full or incremental downlink syncs
(`apply_sync`). PINs are stored as salted SHA-256 digests, never in clear. WAL mode keeps
lookups in doors workers unblocked while a sync writes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

KINDS = ("card", "qr", "pin")
COLUMNS = ("kind", "value", "door_group", "holder", "visitor", "valid_from", "valid_until", "extended")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS credentials(
  kind TEXT NOT NULL CHECK(kind IN ('card','qr','pin')),
  value TEXT NOT NULL,
  door_group TEXT NOT NULL,
  holder TEXT NOT NULL DEFAULT '',
  visitor INTEGER NOT NULL DEFAULT 0,
  valid_from REAL,
  valid_until REAL,
  extended INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY(kind, value, door_group)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class CredentialError(ValueError):
    """A row that cannot be stored (bad kind, empty value, bad time)."""


@dataclass(frozen=True)
class Credential:
    kind: str
    value: str
    door_group: str
    holder: str = ""
    visitor: bool = False
    valid_from: float | None = None
    valid_until: float | None = None
    extended: bool = False

    def valid_at(self, now: float) -> bool:
        return (self.valid_from is None or now >= self.valid_from) and (
            self.valid_until is None or now < self.valid_until
        )


def parse_time(v: Any) -> float | None:
    """None/'' → None; numbers are Unix seconds; strings ISO 8601 (naive = UTC)."""
    if v is None or v == "":
        return None
    if isinstance(v, int | float):
        return float(v)
    if isinstance(v, str):
        try:
            return float(v)
        except ValueError:
            pass
        try:
            t = dt.datetime.fromisoformat(v.replace("Z", "+00:00"))
        except ValueError as exc:
            raise CredentialError(f"bad time {v!r}") from exc
        if t.tzinfo is None:
            t = t.replace(tzinfo=dt.UTC)
        return t.timestamp()
    raise CredentialError(f"bad time {v!r}")


def format_time(t: float | None) -> str:
    if t is None:
        return ""
    return dt.datetime.fromtimestamp(t, dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _flag(v: Any) -> bool:
    if isinstance(v, str):
        return v.strip().lower() in ("1", "true", "yes", "y")
    return bool(v)


class CredentialStore:
    """Open (and create) the store at `path`. Use one instance per thread."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(self.path), timeout=5.0, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._salt = self._meta("pin_salt")
        if self._salt is None:
            self._db.execute(
                "INSERT OR IGNORE INTO meta(key, value) VALUES('pin_salt', ?)", (os.urandom(16).hex(),)
            )
            self._salt = self._meta("pin_salt")

    # --- meta -------------------------------------------------------------------------
    def _meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return None if row is None else str(row[0])

    @property
    def version(self) -> int:
        v = self._meta("sync_version")
        return int(v) if v is not None else 0

    def count(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM credentials").fetchone()[0])

    # --- rows -------------------------------------------------------------------------
    def stored_value(self, kind: str, value: str) -> str:
        """The key a raw value is stored under (PINs are digested with the store's salt)."""
        if kind == "pin":
            return "sha256:" + hashlib.sha256(f"{self._salt}:{value}".encode()).hexdigest()
        return value

    def _row(self, raw: Mapping[str, Any]) -> tuple[Any, ...]:
        kind = str(raw.get("kind", "")).strip().lower()
        value = str(raw.get("value", "")).strip()
        group = str(raw.get("door_group", "") or "*").strip()
        if kind not in KINDS:
            raise CredentialError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
        if not value:
            raise CredentialError("empty value")
        if kind == "pin" and not value.startswith("sha256:"):
            if not value.isdigit():
                raise CredentialError("a PIN is digits only")
            value = self.stored_value("pin", value)
        vf, vu = parse_time(raw.get("valid_from")), parse_time(raw.get("valid_until"))
        if vf is not None and vu is not None and vu <= vf:
            raise CredentialError("valid_until must be after valid_from")
        visitor = _flag(raw.get("visitor", False))
        if visitor and vu is None:
            raise CredentialError("a visitor pass needs valid_until")
        return (
            kind,
            value,
            group,
            str(raw.get("holder", "") or ""),
            int(visitor),
            vf,
            vu,
            int(_flag(raw.get("extended", False))),
        )

    def upsert(self, rows: Iterable[Mapping[str, Any]]) -> int:
        values = [self._row(r) for r in rows]
        with self._tx():
            self._db.executemany(
                f"INSERT OR REPLACE INTO credentials({', '.join(COLUMNS)}) VALUES(?,?,?,?,?,?,?,?)", values
            )
        return len(values)

    def delete(self, kind: str, value: str, door_group: str | None = None) -> int:
        key = self.stored_value(kind, value) if not value.startswith("sha256:") else value
        with self._tx():
            if door_group is None:
                cur = self._db.execute("DELETE FROM credentials WHERE kind=? AND value=?", (kind, key))
            else:
                cur = self._db.execute(
                    "DELETE FROM credentials WHERE kind=? AND value=? AND door_group=?",
                    (kind, key, door_group),
                )
        return cur.rowcount

    def apply_sync(self, full: bool, version: int, rows: Iterable[Mapping[str, Any]]) -> int:
        """Apply a downlink sync atomically; returns the store's version afterwards.

        ``full``: the rows replace everything. Otherwise rows are upserts, or deletions when a row
        has ``deleted: true``; a delta whose version is not newer than ours is ignored (already
        applied). Bad rows raise `CredentialError` and nothing is applied.
        """
        if not full and version <= self.version:
            return self.version
        upserts, deletes = [], []
        for r in rows:
            if not full and _flag(r.get("deleted", False)):
                kind = str(r.get("kind", ""))
                deletes.append(
                    (
                        kind,
                        self.stored_value(kind, str(r.get("value", ""))),
                        str(r.get("door_group", "") or "*"),
                    )
                )
            else:
                upserts.append(self._row(r))
        with self._tx():
            if full:
                self._db.execute("DELETE FROM credentials")
            self._db.executemany(
                f"INSERT OR REPLACE INTO credentials({', '.join(COLUMNS)}) VALUES(?,?,?,?,?,?,?,?)", upserts
            )
            self._db.executemany("DELETE FROM credentials WHERE kind=? AND value=? AND door_group=?", deletes)
            self._db.execute(
                "INSERT OR REPLACE INTO meta(key, value) VALUES('sync_version', ?)", (str(version),)
            )
        return version

    def lookup(self, kind: str, value: str) -> list[Credential]:
        """Every row for this credential (one per door group it opens)."""
        cur = self._db.execute(
            f"SELECT {', '.join(COLUMNS)} FROM credentials WHERE kind=? AND value=?",
            (kind, self.stored_value(kind, value)),
        )
        return [_credential(r) for r in cur]

    def all(self) -> Iterator[Credential]:
        cur = self._db.execute(
            f"SELECT {', '.join(COLUMNS)} FROM credentials ORDER BY kind, value, door_group"
        )
        for r in cur:
            yield _credential(r)

    def _tx(self) -> _Transaction:
        return _Transaction(self._db)

    def close(self) -> None:
        self._db.close()


def _credential(r: tuple[Any, ...]) -> Credential:
    return Credential(r[0], r[1], r[2], r[3], bool(r[4]), r[5], r[6], bool(r[7]))


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *_: object) -> None:
        self._db.execute("ROLLBACK" if exc_type else "COMMIT")
