"""`edged demo`: the simulated complex, run by the real daemon, with its events printed live.

The demo builds a site config from the demo parts, starts each part's simulators (RTSP
server, OSDP readers, the reference receiver, ...), starts `edged run` on it as a child
process, and prints every event the daemon publishes. Halfway through it kills a worker with
SIGKILL to show the supervisor bringing it back.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any, TextIO

import yaml
import zmq

from edged.bus.commands import CommandClient, CommandError, CommandTimeout
from edged.bus.endpoints import Endpoints
from edged.bus.telemetry import TelemetrySubscriber
from edged.config import ConfigError, SiteConfig
from edged.config.loader import validate_text
from edged.demo.parts import DemoPart, all_parts


def base_site(workdir: Path, metrics_port: int) -> dict[str, Any]:
    return {
        "site": {"id": "demo-complex", "name": "Demo complex (simulated)", "timezone": "Asia/Shanghai"},
        "runtime": {"run_dir": str(workdir / "run"), "state_dir": str(workdir / "state")},
        "metrics": {"listen": f"127.0.0.1:{metrics_port}"},
        "logging": {"level": "info", "format": "json"},
        "rules": [
            {
                "id": "worker-failed-guard-room",
                "when_type": "worker_failed",
                "then": [{"action": "raise", "type": "linkage", "priority": 0}],
            },
        ],
    }


def build_site(workdir: Path, metrics_port: int, parts: list[DemoPart]) -> tuple[Path, SiteConfig]:
    site = base_site(workdir, metrics_port)
    for part in parts:
        part.configure(site, workdir)
    text = yaml.safe_dump(site, sort_keys=False, allow_unicode=True)
    cfg = validate_text(text, SiteConfig, "demo site")  # a demo part that writes a bad config fails here
    path = workdir / "site.yaml"
    path.write_text(text, encoding="utf-8")
    return path, cfg


def run_demo(
    duration_s: float,
    events_path: Path | None,
    workdir: Path | None,
    metrics_port: int,
    chaos: bool = True,
    out: TextIO = sys.stdout,
) -> int:
    with contextlib.ExitStack() as stack:
        if workdir is None:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="edged-demo-")))
        workdir.mkdir(parents=True, exist_ok=True)
        parts = all_parts()  # the same instances configure the site and run its simulators
        try:
            config_path, cfg = build_site(workdir, metrics_port, parts)
        except ConfigError as exc:
            print("demo site config is invalid:\n" + "\n".join(exc.lines), file=sys.stderr)
            return 2
        site_dict = yaml.safe_load(config_path.read_text(encoding="utf-8"))
        _say(
            out,
            f"demo site {cfg.site.id}: {len(cfg.cameras)} cameras, {len(cfg.doors.doors)} doors, "
            f"{len(cfg.gates.checkpoints)} checkpoints; parts: {', '.join(p.name for p in parts) or '-'}",
        )
        _say(
            out,
            f"work dir {workdir}; daemon log {workdir / 'edged.log'}; "
            f"metrics http://127.0.0.1:{metrics_port}/metrics",
        )
        for part in parts:
            stack.enter_context(part.simulators(site_dict, workdir))
        log_file = stack.enter_context(open(workdir / "edged.log", "wb"))
        events_file = stack.enter_context(open(events_path, "w", encoding="utf-8")) if events_path else None
        daemon = subprocess.Popen(
            [sys.executable, "-m", "edged", "run", "-c", str(config_path)],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        try:
            counts = _watch(cfg, daemon, duration_s, chaos, events_file, out)
        finally:
            t0 = time.monotonic()
            if daemon.poll() is None:
                daemon.send_signal(signal.SIGTERM)
            try:
                code = daemon.wait(timeout=15)
            except subprocess.TimeoutExpired:
                daemon.kill()
                code = daemon.wait()
        _say(out, f"daemon stopped in {time.monotonic() - t0:.2f} s with exit code {code}")
        _say(out, "events by type: " + (", ".join(f"{t}={n}" for t, n in counts.most_common()) or "none"))
        return 0 if code == 0 else 1


def _watch(
    cfg: SiteConfig,
    daemon: subprocess.Popen[bytes],
    duration_s: float,
    chaos: bool,
    events_file: TextIO | None,
    out: TextIO,
) -> Counter[str]:
    ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    endpoints = Endpoints(cfg.runtime.run_dir)
    sub = TelemetrySubscriber(ctx, endpoints.telemetry_out, ["event"])
    control = CommandClient(ctx, endpoints.control)
    counts: Counter[str] = Counter()
    states: dict[str, str] = {}
    start = time.monotonic()
    next_status = start
    killed = False
    try:
        while time.monotonic() - start < duration_s and daemon.poll() is None:
            got = sub.recv(100)
            if got is not None:
                event = got[1]
                counts[event["type"]] += 1
                _say(out, format_event(event))
                if events_file is not None:
                    events_file.write(json.dumps(event, ensure_ascii=False) + "\n")
                    events_file.flush()
            now = time.monotonic()
            if now >= next_status:
                next_status = now + 0.5
                status = _status(control)
                if status is not None:
                    _show_worker_changes(status, states, out)
                    if chaos and not killed and now - start > duration_s / 2:
                        killed = _kill_one_worker(status, out)
    finally:
        sub.close()
        control.close()
        ctx.term()
    return counts


def _status(control: CommandClient) -> dict[str, Any] | None:
    try:
        result: dict[str, Any] = control.call("status", timeout_s=1.0)
        return result
    except (CommandTimeout, CommandError):
        return None


def _show_worker_changes(status: dict[str, Any], states: dict[str, str], out: TextIO) -> None:
    for w in status["workers"]:
        if states.get(w["worker"]) != w["state"]:
            states[w["worker"]] = w["state"]
            extra = f" pid {w['pid']}" if w["pid"] else ""
            _say(out, f"worker {w['worker']}: {w['state']}{extra} (restarts {w['restarts']})")


def _kill_one_worker(status: dict[str, Any], out: TextIO) -> bool:
    target = next((w for w in status["workers"] if w["worker"] == "rules" and w["pid"]), None)
    if target is None:
        return False
    _say(out, f"chaos: kill -9 worker {target['worker']} (pid {target['pid']}) to show the restart")
    with contextlib.suppress(ProcessLookupError):
        os.kill(target["pid"], signal.SIGKILL)
    return True


def format_event(event: dict[str, Any]) -> str:
    data = event.get("data") or {}
    shown = []
    for key, value in data.items():
        if key in ("trajectory", "trigger_data"):
            continue
        text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value
        shown.append(f"{key}={text[:60]}")
    summary = " ".join(shown)
    return f"EVENT P{event['priority']} {event['type']:<18} {event['source']:<24} {summary[:160]}"


def _say(out: TextIO, line: str) -> None:
    out.write(f"{time.strftime('%H:%M:%S')}  {line}\n")
    out.flush()
