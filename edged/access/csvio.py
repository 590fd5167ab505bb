"""CSV import/export of the credential store (the format installers and property offices use).

Columns: kind, value, door_group, holder, visitor, valid_from, valid_until, extended.
Times are ISO 8601 (naive means UTC) or empty. PINs are exported as their digests.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import TextIO

from edged.access.credentials import COLUMNS, CredentialError, CredentialStore, format_time


def import_csv(store: CredentialStore, path: Path, replace: bool = False) -> tuple[int, list[str]]:
    """Returns (rows imported, one error line per bad row); nothing is imported if any row is bad."""
    rows, errors = [], []
    with path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        missing = {"kind", "value"} - set(reader.fieldnames or [])
        if missing:
            return 0, [f"{path}: missing column(s) {', '.join(sorted(missing))}"]
        for line, row in enumerate(reader, start=2):
            try:
                store._row(row)  # validate now, to report every bad line at once
                rows.append(row)
            except CredentialError as exc:
                errors.append(f"{path}:{line}: {exc}")
    if errors:
        return 0, errors
    if replace:
        store.apply_sync(True, store.version + 1, rows)
    else:
        store.upsert(rows)
    return len(rows), []


def export_csv(store: CredentialStore, out: TextIO) -> int:
    w = csv.writer(out)
    w.writerow(COLUMNS)
    n = 0
    for c in store.all():
        w.writerow(
            [
                c.kind,
                c.value,
                c.door_group,
                c.holder,
                int(c.visitor),
                format_time(c.valid_from),
                format_time(c.valid_until),
                int(c.extended),
            ]
        )
        n += 1
    return n
