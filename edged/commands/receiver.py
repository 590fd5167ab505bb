"""`edged receiver`: the reference central server (CurveZMQ ROUTER + SQLite).

The keys directory holds `server.key_secret` (make it with `edged keys generate --name server`)
and `allowed/<site-id>.key`, one public key per box; removing a file refuses that box from its
next connection on, without a restart.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

import zmq
from prometheus_client import start_http_server

from edged.uplink.receiver import ReceiverSettings, run_receiver


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bind", required=True, help="e.g. tcp://0.0.0.0:7700")
    parser.add_argument("--keys", required=True, type=Path, help="keys directory (server key + allowed/)")
    parser.add_argument("--db", required=True, type=Path, help="SQLite database file")
    parser.add_argument(
        "--files", type=Path, default=None, help="evidence files directory (default DB.files)"
    )
    parser.add_argument("--print", action="store_true", help="print each new event as a JSON line")
    parser.add_argument(
        "--metrics", default=None, metavar="HOST:PORT", help="serve edged_receiver_* metrics here (/metrics)"
    )


def run(args: argparse.Namespace) -> int:
    stop = threading.Event()

    def _stop(_sig: int, _frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    settings = ReceiverSettings(
        bind=args.bind,
        keys_dir=args.keys,
        db=args.db,
        files_dir=args.files,
        print_to=sys.stdout if args.print else None,
    )
    try:
        if args.metrics:
            host, _, port = args.metrics.rpartition(":")
            start_http_server(int(port), addr=host or "127.0.0.1")
        run_receiver(settings, stop)
    except (OSError, ValueError, zmq.ZMQError) as exc:
        print(f"edged receiver: {exc}", file=sys.stderr)
        return 1
    return 0
