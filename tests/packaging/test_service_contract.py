"""The real daemon keeps the contract systemd/edged.service and docker/Dockerfile rely on.

- Type=notify + NotifyAccess=main: READY=1 and WATCHDOG=1 arrive on $NOTIFY_SOCKET, sent by the
  PID systemd started (checked with SO_PASSCRED), at least twice per WatchdogSec;
- HEALTHCHECK: the Dockerfile's own command exits 0 while the daemon runs and non-zero after;
- TimeoutStopSec: SIGTERM ends the daemon with exit code 0 before systemd would SIGKILL it.
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pkg_tools import REPO
from systemd_root import parse_unit

UNIT = parse_unit((REPO / "systemd/edged.service").read_text())["Service"]
EDGED = Path(sys.executable).parent / "edged"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _healthcheck_argv(port: int) -> list[str]:
    text = re.sub(r"\\\n", " ", (REPO / "docker/Dockerfile").read_text())
    m = re.search(r"^HEALTHCHECK .*?CMD (\[.*\])\s*$", text, re.M)
    assert m, "no exec-form HEALTHCHECK CMD in the Dockerfile"
    argv = [a.replace("127.0.0.1:9108", f"127.0.0.1:{port}") for a in json.loads(m.group(1))]
    assert argv[0] == "python"
    return [sys.executable, *argv[1:]]  # the image's PATH puts the venv's python first


@pytest.fixture
def short_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="edged-sd-", dir="/tmp"))  # unix socket paths max 107 bytes
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _recv(sock: socket.socket, timeout: float) -> tuple[int, str] | None:
    sock.settimeout(timeout)
    try:
        data, anc, _, _ = sock.recvmsg(4096, socket.CMSG_SPACE(struct.calcsize("3i")))
    except TimeoutError:
        return None
    pid = -1
    for level, kind, payload in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
            pid = struct.unpack("3i", payload[: struct.calcsize("3i")])[0]
    return pid, data.decode()


def test_notify_watchdog_healthcheck_and_clean_stop(short_dir: Path) -> None:
    port = _free_port()
    site = short_dir / "site.yaml"
    site.write_text(
        f"site: {{id: contract-test}}\n"
        f"runtime: {{run_dir: {short_dir}/run, state_dir: {short_dir}/state}}\n"
        f'metrics: {{listen: "127.0.0.1:{port}"}}\n'
        "logging: {format: json}\n"
    )
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
    notify.bind(str(short_dir / "notify"))
    watchdog_s = 1.0
    env = {
        "PATH": f"{EDGED.parent}:/usr/bin:/bin",
        "NOTIFY_SOCKET": str(short_dir / "notify"),
        "WATCHDOG_USEC": str(int(watchdog_s * 1e6)),
    }
    proc = subprocess.Popen(
        [str(EDGED), "run", "-c", str(site)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        messages: list[tuple[int, str]] = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            got = _recv(notify, 1.0)
            if got:
                messages.append(got)
            if any("READY=1" in m for _, m in messages) and sum("WATCHDOG=1" in m for _, m in messages) >= 3:
                break
        assert any("READY=1" in m for _, m in messages), messages
        assert sum("WATCHDOG=1" in m for _, m in messages) >= 3, messages
        assert {pid for pid, _ in messages} == {proc.pid}, "NotifyAccess=main: only the main PID may notify"

        health = subprocess.run(_healthcheck_argv(port), capture_output=True, text=True, timeout=10)
        assert health.returncode == 0, health.stderr

        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=float(UNIT["TimeoutStopSec"][-1]))
        assert rc == 0, proc.stderr.read().decode()[-2000:] if proc.stderr else rc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        notify.close()

    down = subprocess.run(_healthcheck_argv(port), capture_output=True, text=True, timeout=10)
    assert down.returncode != 0
