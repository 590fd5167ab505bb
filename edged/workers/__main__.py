"""Entry point of a worker process: ``python -m edged.workers NAME --config SITE.yaml``.

The supervisor starts each worker as a fresh interpreter (spawn semantics, no pickle): the
child loads and validates the config itself and creates its own context, logger and metrics.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from edged.config import ConfigError, load_site_config
from edged.logs import configure_logging
from edged.workers import WORKER_MODULES
from edged.workers.runtime import WorkerContext, pid


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="edged-worker")
    parser.add_argument("name")
    parser.add_argument("--config", required=True, help="the config to load (the supervisor's snapshot)")
    parser.add_argument("--source", help="the operator's config file it was validated from")
    args = parser.parse_args(argv)
    kind = args.name.split(":", 1)[0]
    if kind not in WORKER_MODULES:
        print(f"unknown worker kind {kind!r}", file=sys.stderr)
        return 2
    try:
        config = load_site_config(args.config)
    except ConfigError as exc:
        print("\n".join(exc.lines), file=sys.stderr)
        return 2
    configure_logging(config.logging.level, config.logging.format, worker=args.name, pid=pid())
    module = importlib.import_module(WORKER_MODULES[kind])
    ctx = WorkerContext.create(args.name, config, Path(args.source or args.config).resolve())
    ctx.install_signal_handlers()
    # The first heartbeat comes from the worker's own loop: "up" means its loop runs.
    try:
        module.run(ctx)
    finally:
        ctx.close(flush_timeout_s=config.supervisor.stop_timeout_s / 4)
    return 0


if __name__ == "__main__":
    sys.exit(main())
