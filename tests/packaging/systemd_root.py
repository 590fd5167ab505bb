"""A throw-away root for `systemd-analyze verify --root`: works in a container without systemd as PID 1."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

HOST_UNITS = Path("/usr/lib/systemd/system")
SYSTEMD_ANALYZE = shutil.which("systemd-analyze")


def make_root(root: Path, unit_text: str, exec_start: str = "/opt/edged/venv/bin/edged") -> Path:
    """Lay out `root` with the host's stock units (targets the unit orders against), the unit under
    /etc/systemd/system, and an executable at ExecStart's path (verify checks it exists and is
    executable; a shell stub stands in for the venv, which needs PyPI to build)."""
    shutil.copytree(HOST_UNITS, root / HOST_UNITS.relative_to("/"), symlinks=True, dirs_exist_ok=True)
    unit_dir = root / "etc/systemd/system"
    unit_dir.mkdir(parents=True, exist_ok=True)
    (unit_dir / "edged.service").write_text(unit_text)
    exe = root / exec_start.lstrip("/")
    if not exe.exists():
        exe.parent.mkdir(parents=True, exist_ok=True)
        exe.write_text("#!/bin/sh\nexit 0\n")
        exe.chmod(0o755)
    return root


def verify(root: Path) -> tuple[int, list[str]]:
    """Run verify on edged.service in `root`; return the exit code and every complaint about it."""
    assert SYSTEMD_ANALYZE is not None
    proc = subprocess.run(
        [SYSTEMD_ANALYZE, "verify", f"--root={root}", "--man=no", "--generators=no", "edged.service"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    lines = (proc.stdout + proc.stderr).splitlines()
    return proc.returncode, [line for line in lines if "edged" in line]


def security_exposure(root: Path) -> tuple[float, str]:
    """`systemd-analyze security --offline` on the unit: (overall exposure 0-10, full report)."""
    assert SYSTEMD_ANALYZE is not None
    proc = subprocess.run(
        [SYSTEMD_ANALYZE, "security", "--offline=yes", f"--root={root}", "--no-pager", "edged.service"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    for line in proc.stdout.splitlines():
        if "Overall exposure level" in line:
            return float(line.split(":", 1)[1].split()[0]), proc.stdout
    raise AssertionError(f"no exposure level in:\n{proc.stdout}\n{proc.stderr}")


def parse_unit(text: str) -> dict[str, dict[str, list[str]]]:
    """Sections -> key -> every value (systemd allows repeated keys, configparser does not)."""
    out: dict[str, dict[str, list[str]]] = {}
    section = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            out.setdefault(section, {})
            continue
        key, _, value = line.partition("=")
        out[section].setdefault(key.strip(), []).append(value.strip())
    return out
