"""`edged config schema`: the site config's JSON Schema, for editors and installers."""

from __future__ import annotations

import argparse
import json

from edged.config import SiteConfig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--indent", type=int, default=2)


def run(args: argparse.Namespace) -> int:
    print(json.dumps(SiteConfig.model_json_schema(), indent=args.indent))
    return 0
