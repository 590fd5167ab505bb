"""``python -m edged.supervisor --config SITE.yaml`` (exec'd by `edged run`)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from edged.config import ConfigError, SiteConfig, validate_text
from edged.logs import configure_logging


def main() -> int:
    parser = argparse.ArgumentParser(prog="edged-supervisor")
    parser.add_argument("--config", required=True)
    args = parser.parse_args()
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        print("start the daemon with `edged run -c SITE.yaml`", file=sys.stderr)
        return 2
    path = Path(args.config)
    try:
        text = path.read_text(encoding="utf-8")
        cfg = validate_text(text, SiteConfig, str(path))
    except OSError as exc:
        print(f"{path}: cannot read: {exc.strerror}", file=sys.stderr)
        return 2
    except ConfigError as exc:
        print("\n".join(exc.lines), file=sys.stderr)
        return 2
    configure_logging(cfg.logging.level, cfg.logging.format, worker="supervisor", pid=os.getpid())
    from edged.supervisor.supervisor import Supervisor

    return Supervisor(path, cfg, text).run()


if __name__ == "__main__":
    sys.exit(main())
