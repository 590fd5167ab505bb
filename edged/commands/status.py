"""`edged status`: ask the running daemon over its control socket; print its workers."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import zmq

from edged.bus.commands import CommandClient, CommandError, CommandTimeout
from edged.bus.endpoints import Endpoints
from edged.config import ConfigError, load_site_config


def add_arguments(parser: argparse.ArgumentParser) -> None:
    where = parser.add_mutually_exclusive_group()
    where.add_argument("-c", "--config", help="site config (to find its run dir)")
    where.add_argument("--run-dir", default="/run/edged", help="runtime dir of the daemon")
    parser.add_argument("--json", action="store_true", help="print the raw status as JSON")
    parser.add_argument("--timeout", type=float, default=2.0)


def run(args: argparse.Namespace) -> int:
    run_dir = Path(args.run_dir)
    if args.config:
        try:
            run_dir = load_site_config(args.config).runtime.run_dir
        except ConfigError as exc:
            print("\n".join(exc.lines), file=sys.stderr)
            return 2
    ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    client = CommandClient(ctx, Endpoints(run_dir).control)
    try:
        status = client.call("status", timeout_s=args.timeout)
    except (CommandTimeout, CommandError) as exc:
        print(f"edged status: no answer from the daemon at {run_dir}: {exc}", file=sys.stderr)
        return 1
    finally:
        client.close()
        ctx.term()
    print(json.dumps(status, indent=2) if args.json else format_status(status))
    return 0


def format_status(status: dict[str, Any]) -> str:
    head = (
        f"site {status['site']}  edged {status['version']}  pid {status['pid']}  "
        f"up {status['uptime_s']:.0f} s  {'ready' if status['ready'] else 'starting'}"
    )
    rows = [("WORKER", "STATE", "PID", "RESTARTS", "HEARTBEAT", "PROGRESS")]
    for w in status["workers"]:
        age = "-" if w["heartbeat_age_s"] is None else f"{w['heartbeat_age_s']:.1f} s ago"
        progress = " ".join(f"{k}={v}" for k, v in sorted(w["progress"].items()))
        rows.append((w["worker"], w["state"], str(w["pid"] or "-"), str(w["restarts"]), age, progress[:60]))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    lines = ["  ".join(c.ljust(widths[i]) for i, c in enumerate(r[:-1])) + "  " + r[-1] for r in rows]
    return "\n".join([head, "", *lines])
