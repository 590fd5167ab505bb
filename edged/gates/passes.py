"""Whitelist and visitor passes for vehicle plates (SQLite on disk) and the decision on a plate.

Residents' plates are `whitelist` rows (usually without a window); visitor passes are `visitor`
rows with a validity window and optionally a number of entries. Plates are normalised before
they are stored or looked up (``渝A·12345``, ``渝a 12345`` and ``渝A-12345`` are one plate), so
the decision works with whatever string a plate reader or a guard produces. Validity windows are
wall-clock (they are calendar times); the barrier machines use the monotonic clock.
"""

from __future__ import annotations

import os
import re
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import structlog

_log = structlog.get_logger("edged.gates.passes")

PassKind = Literal["whitelist", "visitor"]
_STRIP = re.compile(r"[\s·•.\-_]+")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS passes(
  id INTEGER PRIMARY KEY,
  plate TEXT NOT NULL,
  kind TEXT NOT NULL CHECK(kind IN ('whitelist','visitor')),
  checkpoints TEXT NOT NULL DEFAULT '*',
  valid_from REAL,
  valid_until REAL,
  uses_left INTEGER,
  note TEXT NOT NULL DEFAULT '',
  created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS passes_plate ON passes(plate);
"""


def normalize_plate(text: str) -> str:
    """Upper-case, without spaces, middle dots, dots, dashes or underscores."""
    return _STRIP.sub("", text).upper()


@dataclass(frozen=True)
class Pass:
    id: int
    plate: str
    kind: PassKind
    checkpoints: tuple[str, ...]  # empty: every checkpoint
    valid_from: float | None
    valid_until: float | None
    uses_left: int | None
    note: str

    def problem(self, checkpoint: str, now: float) -> str | None:
        """Why this pass does not let the plate through here and now (None: it does)."""
        if self.checkpoints and checkpoint not in self.checkpoints:
            return "wrong_checkpoint"
        if self.valid_from is not None and now < self.valid_from:
            return "not_yet_valid"
        if self.valid_until is not None and now >= self.valid_until:
            return "expired"
        if self.uses_left is not None and self.uses_left <= 0:
            return "used_up"
        return None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "plate": self.plate,
            "kind": self.kind,
            "checkpoints": list(self.checkpoints),
            "valid_from": self.valid_from,
            "valid_until": self.valid_until,
            "uses_left": self.uses_left,
            "note": self.note,
        }


@dataclass(frozen=True)
class Decision:
    plate: str
    allowed: bool
    result: str  # whitelist / visitor when allowed; unknown / expired / not_yet_valid / ... otherwise
    pass_id: int | None = None
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "plate": self.plate,
            "allowed": self.allowed,
            "result": self.result,
            "pass_id": self.pass_id,
            "note": self.note,
        }


# When no pass lets a plate through, report the most telling reason.
_PROBLEM_ORDER = ("used_up", "expired", "not_yet_valid", "wrong_checkpoint")


class PassStore:
    """One SQLite file; WAL so that reads in the worker never wait on an import."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = self._open()
        except sqlite3.DatabaseError as exc:
            aside = self.path.with_name(f"{self.path.name}.corrupt-{int(time.time())}")
            _log.error(
                "pass store unreadable, moved aside; starting empty",
                path=str(self.path),
                moved_to=str(aside),
                error=str(exc),
            )
            os.replace(self.path, aside)
            self._db = self._open()

    def _open(self) -> sqlite3.Connection:
        db = sqlite3.connect(str(self.path), timeout=5.0, isolation_level=None, check_same_thread=False)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(_SCHEMA)
        except sqlite3.DatabaseError:
            db.close()
            raise
        return db

    def close(self) -> None:
        self._db.close()

    def add(
        self,
        plate: str,
        kind: PassKind,
        *,
        checkpoints: list[str] | tuple[str, ...] = (),
        valid_from: float | None = None,
        valid_until: float | None = None,
        uses: int | None = None,
        note: str = "",
    ) -> Pass:
        norm = normalize_plate(plate)
        if not norm:
            raise ValueError("plate is empty")
        if kind not in ("whitelist", "visitor"):
            raise ValueError(f"kind must be whitelist or visitor, not {kind!r}")
        if valid_from is not None and valid_until is not None and valid_until <= valid_from:
            raise ValueError("valid_until must be after valid_from")
        if uses is not None and uses < 1:
            raise ValueError("uses must be >= 1")
        cps = ",".join(checkpoints) or "*"
        cur = self._db.execute(
            "INSERT INTO passes(plate, kind, checkpoints, valid_from, valid_until, uses_left, note, created)"
            " VALUES (?,?,?,?,?,?,?,?)",
            (norm, kind, cps, valid_from, valid_until, uses, note, time.time()),
        )
        assert cur.lastrowid is not None
        return self.get(cur.lastrowid)

    def remove(self, plate: str) -> int:
        return self._db.execute("DELETE FROM passes WHERE plate=?", (normalize_plate(plate),)).rowcount

    def get(self, pass_id: int) -> Pass:
        row = self._db.execute(f"SELECT {_COLS} FROM passes WHERE id=?", (pass_id,)).fetchone()
        if row is None:
            raise KeyError(pass_id)
        return _row(row)

    def for_plate(self, plate: str) -> list[Pass]:
        rows = self._db.execute(
            f"SELECT {_COLS} FROM passes WHERE plate=? ORDER BY kind DESC, id", (normalize_plate(plate),)
        ).fetchall()
        return [_row(r) for r in rows]  # whitelist rows first ('whitelist' > 'visitor')

    def count(self) -> dict[str, int]:
        rows = self._db.execute("SELECT kind, COUNT(*) FROM passes GROUP BY kind").fetchall()
        return {"whitelist": 0, "visitor": 0, **{k: int(n) for k, n in rows}}

    def decide(self, plate: str, checkpoint: str, now: float | None = None, consume: bool = True) -> Decision:
        """May this plate pass this checkpoint now? A visitor pass with entries left loses one."""
        t = time.time() if now is None else now
        norm = normalize_plate(plate)
        if not norm:
            return Decision(norm, False, "unreadable")
        problems: list[str] = []
        for p in self.for_plate(norm):
            problem = p.problem(checkpoint, t)
            if problem is not None:
                problems.append(problem)
                continue
            if consume and p.uses_left is not None:
                used = self._db.execute(
                    "UPDATE passes SET uses_left = uses_left - 1 WHERE id=? AND uses_left > 0", (p.id,)
                ).rowcount
                if not used:  # another writer took the last entry in between
                    problems.append("used_up")
                    continue
            return Decision(norm, True, p.kind, p.id, p.note)
        reason = next((r for r in _PROBLEM_ORDER if r in problems), "unknown")
        return Decision(norm, False, reason)


_COLS = "id, plate, kind, checkpoints, valid_from, valid_until, uses_left, note"


def _row(row: tuple[Any, ...]) -> Pass:
    pass_id, plate, kind, cps, valid_from, valid_until, uses_left, note = row
    checkpoints = () if cps == "*" else tuple(c for c in str(cps).split(",") if c)
    return Pass(int(pass_id), str(plate), kind, checkpoints, valid_from, valid_until, uses_left, str(note))
