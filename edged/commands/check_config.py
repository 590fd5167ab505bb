"""`edged check-config SITE.yaml`: exit 0 when valid, else exit 2 with one line per error."""

from __future__ import annotations

import argparse
import sys

from edged.config import ConfigError, load_site_config


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="site config YAML")


def run(args: argparse.Namespace) -> int:
    try:
        cfg = load_site_config(args.config)
    except ConfigError as exc:
        for line in exc.lines:
            print(line, file=sys.stderr)
        return 2
    print(f"{args.config}: ok (site {cfg.site.id}: {len(cfg.cameras)} cameras, {len(cfg.doors.doors)} doors)")
    return 0
