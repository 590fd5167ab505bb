"""The running daemon's outward surfaces: /metrics (promtool), /healthz, sd_notify, status, garbage."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import zmq
from support.daemon import Daemon, wait_for

from edged.bus.endpoints import Endpoints
from edged.supervisor.sdnotify import sd_notify, watchdog_interval_s


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def _metric(text: str, name: str, **labels: str) -> float:
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            head, value = line.rsplit(" ", 1)
            got = head[len(name) :].strip("{}")
            if sorted(got.split(",")) == sorted(want.split(",")) if want else got == "":
                return float(value)
    return 0.0


def test_sd_notify_speaks_to_a_real_datagram_socket(tmp_path: Path) -> None:
    path = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(str(path))
        assert sd_notify("READY=1\nSTATUS=up", {"NOTIFY_SOCKET": str(path)})
        assert server.recv(4096) == b"READY=1\nSTATUS=up"
    abstract = f"@edged-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind("\0" + abstract[1:])
        assert sd_notify("WATCHDOG=1", {"NOTIFY_SOCKET": abstract})
        assert server.recv(4096) == b"WATCHDOG=1"
    assert not sd_notify("READY=1", {})
    assert watchdog_interval_s({"WATCHDOG_USEC": "30000000"}) == 15.0


def test_daemon_notifies_ready_and_pings_the_watchdog(tmp_path: Path) -> None:
    path = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(str(path))
        server.settimeout(60)
        env = {"NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "400000"}
        with Daemon(tmp_path, env=env) as d:
            messages: list[bytes] = []
            while not any(m.startswith(b"READY=1") for m in messages):
                messages.append(server.recv(4096))
            status = d.status()
            assert status is not None and status["ready"]
            t0 = time.monotonic()
            pings = 0
            while time.monotonic() - t0 < 1.0:
                if server.recv(4096) == b"WATCHDOG=1":
                    pings += 1
            assert pings >= 3  # every 0.2 s (half of WatchdogSec)


def test_metrics_pass_promtool_and_healthz_reports(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool is missing: install Debian's `prometheus` package (make system-deps)")
    with Daemon(tmp_path) as d:
        d.wait_ready()
        code, body = _get(f"http://127.0.0.1:{d.port}/metrics")
        assert code == 200
        for name in (
            "edged_build_info",
            "edged_worker_up",
            "edged_worker_heartbeat_age_seconds",
            "edged_worker_start_seconds",
        ):
            assert name in body
        assert _metric(body, "edged_worker_up", worker="rules", kind="rules") == 1.0
        check = subprocess.run([promtool, "check", "metrics"], input=body, capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr
        code, health = _get(f"http://127.0.0.1:{d.port}/healthz")
        assert code == 200 and json.loads(health)["healthy"] is True
        assert _get(f"http://127.0.0.1:{d.port}/nope")[0] == 404


def test_garbage_on_every_daemon_socket_is_counted_and_nothing_crashes(tmp_path: Path) -> None:
    with Daemon(tmp_path) as d:
        status = d.wait_ready()
        pids = {w["worker"]: w["pid"] for w in status["workers"]}
        ep = Endpoints(d.run_dir)
        ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
        targets = [
            (ep.heartbeat, zmq.PUSH, "heartbeat"),
            (ep.control, zmq.DEALER, "control"),
            (ep.events("rules"), zmq.DEALER, "events-rules"),
        ]
        socks = []
        for endpoint, kind, _ in targets:
            s = ctx.socket(kind)
            s.connect(endpoint)
            for junk in (b"\xff\xfe", b"", b"\x93\x01\x02\x03", b"\x81\xa1v\x02"):
                s.send(junk)
            socks.append(s)

        def all_counted() -> bool:
            body = _get(f"http://127.0.0.1:{d.port}/metrics")[1]
            return all(
                _metric(body, "edged_bus_malformed_messages_total", socket=name) >= 4
                for _, _, name in targets
            )

        wait_for(all_counted, timeout_s=10, interval_s=0.2)
        after = d.status()
        assert after is not None
        assert {w["worker"]: w["pid"] for w in after["workers"]} == pids  # no worker restarted
        for s in socks:
            s.close(0)
        ctx.term()


def test_status_command_prints_the_worker_table(tmp_path: Path) -> None:
    with Daemon(tmp_path) as d:
        d.wait_ready()
        proc = subprocess.run(
            [sys.executable, "-m", "edged", "status", "-c", str(d.config_path)],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert proc.returncode == 0, proc.stderr
        assert "WORKER" in proc.stdout and "rules" in proc.stdout and "running" in proc.stdout
    proc = subprocess.run(
        [sys.executable, "-m", "edged", "status", "--run-dir", str(tmp_path / "none"), "--timeout", "0.5"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 1 and "no answer" in proc.stderr
