"""`edged credentials export [-o FILE.csv]`: write the local store as CSV (PINs as digests)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from edged.access.credentials import CredentialStore
from edged.access.csvio import export_csv
from edged.commands.credentials_import import store_path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("-c", "--config", help="site config (the store is doors.credentials_db)")
    where.add_argument("--db", type=Path, help="credential store file")
    parser.add_argument("-o", "--output", type=Path, help="CSV file (default: stdout)")


def run(args: argparse.Namespace) -> int:
    path = store_path(args)
    if path is None:
        return 2
    if not path.exists():
        print(f"{path}: no credential store", file=sys.stderr)
        return 2
    store = CredentialStore(path)
    try:
        if args.output is None:
            n = export_csv(store, sys.stdout)
        else:
            with args.output.open("w", newline="", encoding="utf-8") as f:
                n = export_csv(store, f)
    finally:
        store.close()
    print(f"exported {n} credential(s)", file=sys.stderr)
    return 0
