"""`edged run -c SITE.yaml`: the daemon (supervisor + workers) in the foreground.

prometheus-client picks its multiprocess mode when it is first imported, and the CLI has
imported it by now, so after validating the config and preparing the metrics dir this command
exec()s the supervisor in a fresh interpreter with the dir in its environment. exec keeps the
PID, which systemd's `NotifyAccess=main` needs.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

from edged.config import ConfigError, load_site_config
from edged.pipelines.ring import ShmTooSmall
from edged.pipelines.shm_check import check_site_shm

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", "--config", required=True, help="site config YAML")


def run(args: argparse.Namespace) -> int:
    path = Path(args.config).resolve()
    try:
        cfg = load_site_config(path)
    except ConfigError as exc:
        print("\n".join(exc.lines), file=sys.stderr)
        return 2
    try:
        check_site_shm(cfg)
    except ShmTooSmall as exc:
        print(f"edged: refusing to start: {exc}", file=sys.stderr)
        return 2
    metrics_dir = cfg.runtime.run_dir / "metrics"
    shutil.rmtree(metrics_dir, ignore_errors=True)  # values of a previous run are not ours
    metrics_dir.mkdir(parents=True, mode=0o700)
    os.environ[MULTIPROC_ENV] = str(metrics_dir)
    sys.stdout.flush()
    os.execv(sys.executable, [sys.executable, "-m", "edged.supervisor", "--config", str(path)])
