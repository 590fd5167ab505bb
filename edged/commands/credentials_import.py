"""`edged credentials import FILE.csv`: load cards / QR codes / PINs into the local store."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from edged.access.credentials import CredentialStore
from edged.access.csvio import import_csv
from edged.access.engine import default_db
from edged.config import ConfigError, load_site_config


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "file", type=Path, help="CSV: kind,value,door_group,holder,visitor,valid_from,valid_until,extended"
    )
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("-c", "--config", help="site config (the store is doors.credentials_db)")
    where.add_argument("--db", type=Path, help="credential store file")
    parser.add_argument("--replace", action="store_true", help="replace every credential (bumps the version)")


def store_path(args: argparse.Namespace) -> Path | None:
    if args.db is not None:
        return Path(args.db)
    try:
        return default_db(load_site_config(args.config))
    except ConfigError as exc:
        print("\n".join(exc.lines), file=sys.stderr)
        return None


def run(args: argparse.Namespace) -> int:
    path = store_path(args)
    if path is None:
        return 2
    store = CredentialStore(path)
    try:
        n, errors = import_csv(store, args.file, replace=args.replace)
    except OSError as exc:
        print(f"{args.file}: {exc.strerror}", file=sys.stderr)
        return 2
    finally:
        total = store.count()
        store.close()
    if errors:
        print("\n".join(errors), file=sys.stderr)
        return 2
    print(f"imported {n} credential(s) into {path} ({total} stored)")
    return 0
