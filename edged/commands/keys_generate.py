"""`edged keys generate`: a CurveZMQ key pair for a box or a receiver (files mode 0600).

Keys are made on the machine that uses them and never put in an image. Give the printed
public key (or the NAME.key file) to the server team; they drop it into the receiver's
`allowed/<site-id>.key`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from edged.uplink.keys import generate


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dir", type=Path, default=Path("/var/lib/edged/uplink"), help="where to write the files"
    )
    parser.add_argument(
        "--name", default="box", help="file name stem: NAME.key and NAME.key_secret (default box)"
    )
    parser.add_argument("--force", action="store_true", help="replace an existing key pair")


def run(args: argparse.Namespace) -> int:
    try:
        pub, sec, pair = generate(args.dir, args.name, force=args.force)
    except (FileExistsError, ValueError, OSError) as exc:
        print(f"edged keys generate: {exc}", file=sys.stderr)
        return 1
    print(f"public key: {pair.public.decode()}")
    print(f"wrote {pub} and {sec} (mode 0600)")
    return 0
