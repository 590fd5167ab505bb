"""The `edged` command line: a table of commands, each implemented by a module in edged/commands/.

A command module exposes ``add_arguments(parser)`` and ``run(args) -> int``. Modules are
imported only when their command runs, so `edged status` does not pay for onnxruntime.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from collections.abc import Sequence

# (words, module, help) — the order here is the order of `edged --help`.
COMMANDS: list[tuple[tuple[str, ...], str, str]] = [
    (("run",), "run", "run the daemon for a site"),
    (("check-config",), "check_config", "validate a site config (exit 2 on errors)"),
    (("config", "schema"), "config_schema", "print the site config's JSON Schema"),
    (("demo",), "demo", "run the simulated complex and print events live"),
    (("status",), "status", "ask a running daemon for its workers' state"),
    (("analyze", "falling"), "analyze_falling", "find thrown/falling objects in a video"),
    (("analyze", "thermal"), "analyze_thermal", "screen body temperature in a thermal .npz"),
    (("synth", "falling"), "synth_falling", "generate falling-object clips with ground truth"),
    (("synth", "thermal"), "synth_thermal", "generate thermal screening clips with ground truth"),
    (("eval", "falling"), "eval_falling", "score the falling-object analytic on a suite"),
    (("eval", "thermal"), "eval_thermal", "score thermal screening on a suite"),
    (("detect",), "detect", "run the configured detector on images, print JSON"),
    (("models", "prepare"), "models_prepare", "convert the shipped models to ONNX"),
    (("receiver",), "receiver", "reference central server (CurveZMQ ROUTER + SQLite)"),
    (("keys", "generate"), "keys_generate", "generate a CurveZMQ key pair"),
    (("credentials", "import"), "credentials_import", "import access credentials from CSV"),
    (("credentials", "export"), "credentials_export", "export access credentials to CSV"),
    (("bench", "supervisor"), "bench_supervisor", "worker start, restart after kill -9 or a stall, stop"),
    (("bench", "pipeline"), "bench_pipeline", "camera + detector pipeline throughput"),
    (("bench", "falling"), "bench_falling", "falling-object analytic per-frame cost"),
    (("bench", "thermal"), "bench_thermal", "thermal screening throughput"),
    (("bench", "doors"), "bench_doors", "access decision latency over simulated buses"),
    (("bench", "uplink"), "bench_uplink", "outbox ingest and uplink drain rate"),
    (("bench", "gates"), "bench_gates", "Modbus round trip, open to relay, plate decisions"),
]


def _available(module: str) -> bool:
    return importlib.util.find_spec(f"edged.commands.{module}") is not None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="edged", description="edge daemon of a residential complex")
    parser.add_argument("--version", action="version", version=f"edged {_version()}")
    top = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    groups: dict[str, argparse._SubParsersAction[argparse.ArgumentParser]] = {}
    for words, module, help_text in COMMANDS:
        if not _available(module):
            continue
        if len(words) == 1:
            sub = top.add_parser(words[0], help=help_text, description=help_text)
        else:
            if words[0] not in groups:
                group = top.add_parser(words[0], help=f"{words[0]} commands")
                groups[words[0]] = group.add_subparsers(
                    dest="subcommand", metavar="SUBCOMMAND", required=True
                )
            sub = groups[words[0]].add_parser(words[1], help=help_text, description=help_text)
        sub.set_defaults(_module=module)
        try:
            importlib.import_module(f"edged.commands.{module}").add_arguments(sub)
        except ImportError as exc:
            # One command's missing dependency must not take every other command down with it.
            sub.set_defaults(_import_error=f"edged {' '.join(words)}: cannot load: {exc}")
    return parser


def _version() -> str:
    from edged import __version__

    return __version__


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "_import_error", None):
        print(args._import_error, file=sys.stderr)
        return 1
    module = importlib.import_module(f"edged.commands.{args._module}")
    try:
        return int(module.run(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
