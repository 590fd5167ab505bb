"""The supervisor's main loop: spawn workers in order, watch heartbeats, restart, report, stop.

It must outlive every worker, so it does no domain work itself: it only moves heartbeats,
telemetry and control messages, and answers /metrics and /healthz.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import structlog
import zmq

from edged import __version__, metrics
from edged.bus.commands import CommandServer
from edged.bus.endpoints import Endpoints
from edged.bus.envelope import MalformedMessage, unpack
from edged.bus.malformed import MalformedCounter
from edged.bus.reliable import EventSender
from edged.bus.sockets import make_socket
from edged.bus.telemetry import TelemetryProxy, TelemetryPublisher
from edged.config import ConfigError, SiteConfig, validate_text
from edged.events import Priority, new_event
from edged.supervisor.forkserver import ForkServer
from edged.supervisor.http import MetricsServer
from edged.supervisor.process import State, WorkerProcess, exit_reason
from edged.supervisor.restart_policy import RestartPolicy
from edged.supervisor.sdnotify import sd_notify, watchdog_interval_s
from edged.supervisor.topology import plan_workers
from edged.workers.runtime import EVENT_SINKS

log = structlog.get_logger("edged.supervisor")

LOOP_S = 0.05


class Supervisor:
    def __init__(self, config_path: Path, cfg: SiteConfig, text: str) -> None:
        """`text` is the file's content that `cfg` was validated from."""
        self.config_path = config_path
        self.cfg = cfg
        self._text = text
        self.endpoints = Endpoints(cfg.runtime.run_dir)
        # Workers load this validated copy, never the file operators edit: a bad edit cannot
        # break the next worker restart, only a reload that refuses it.
        self.snapshot = cfg.runtime.run_dir / "site.yaml"
        self.workers: list[WorkerProcess] = []
        self._stop_requested = False
        self._exit_code = 0
        self._ready_sent = False
        self._started = time.monotonic()
        self._last_loop = time.monotonic()
        self._failed_alarmed: set[str] = set()

    # -- lifecycle --------------------------------------------------------------------------

    def run(self) -> int:
        self.endpoints.prepare()
        self.zmq: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
        self._heartbeats = make_socket(self.zmq, zmq.PULL, hwm=10_000)
        self._heartbeats.bind(self.endpoints.heartbeat)
        self._hb_malformed = MalformedCounter("heartbeat")
        self._proxy = TelemetryProxy(self.zmq, self.endpoints.telemetry_in, self.endpoints.telemetry_out)
        self._control = CommandServer(
            self.zmq,
            self.endpoints.control,
            {"status": self._cmd_status, "reload": self._cmd_reload},
            "control",
        )
        self._events = [EventSender(self.zmq, self.endpoints.events(s), s, "supervisor") for s in EVENT_SINKS]
        self._telemetry = TelemetryPublisher(self.zmq, self.endpoints.telemetry_in, "supervisor")
        self._http = MetricsServer(self.cfg.metrics.listen, self._health)
        self._forkserver = ForkServer(dict(os.environ, PYTHONUNBUFFERED="1"))
        metrics.BUILD_INFO.labels(version=__version__).set(1)
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        log.info(
            "supervisor started",
            site=self.cfg.site.id,
            metrics_port=self._http.port,
            config=str(self.config_path),
        )
        self._write_snapshot(self._text)
        self._start_all()
        try:
            self._loop()
        finally:
            self._shutdown()
        return self._exit_code

    def _on_signal(self, signum: int, _frame: object) -> None:
        log.info("stop requested", signal=signal.Signals(signum).name)
        self._stop_requested = True

    def _write_snapshot(self, text: str) -> None:
        tmp = self.snapshot.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # it may hold credentials
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, self.snapshot)

    def _start_all(self) -> None:
        sup = self.cfg.supervisor
        now = time.monotonic()
        self.workers = []
        for spec in plan_workers(self.cfg):
            policy = RestartPolicy(
                sup.restart_budget, sup.restart_window_s, sup.failed_retry_s, sup.failed_retry_max_s
            )
            worker = WorkerProcess(spec, policy, self.snapshot, self.config_path, self._forkserver)
            worker.spawn(now)
            metrics.WORKER_FAILED.labels(worker=spec.name).set(0)
            log.info("worker spawned", worker=spec.name, pid=worker.pid)
            self.workers.append(worker)

    def _loop(self) -> None:
        poller = zmq.Poller()
        poller.register(self._heartbeats, zmq.POLLIN)
        poller.register(self._control.socket, zmq.POLLIN)
        poller.register(self._forkserver.fileno(), zmq.POLLIN)
        watchdog = watchdog_interval_s()
        next_watchdog = 0.0
        while not self._stop_requested:
            ready = dict(poller.poll(int(LOOP_S * 1000)))
            now = time.monotonic()
            self._last_loop = now
            if self._heartbeats in ready:
                self._read_heartbeats(now)
            if self._control.socket in ready:
                self._control.handle_ready()
            self._forkserver.pump()
            for worker in self.workers:
                self._check(worker, now)
            if self._core_worker_lost(now):
                self._exit_code = 1
                return
            if not self._ready_sent and all(w.state == State.RUNNING for w in self.workers):
                self._ready_sent = True
                sd_notify(f"READY=1\nSTATUS=all {len(self.workers)} workers running")
                log.info(
                    "all workers running", workers=len(self.workers), startup_s=round(now - self._started, 2)
                )
            if watchdog is not None and now >= next_watchdog:
                sd_notify("WATCHDOG=1")
                next_watchdog = now + watchdog

    # -- watching workers -------------------------------------------------------------------

    def _read_heartbeats(self, now: float) -> None:
        by_name = {w.spec.name: w for w in self.workers}
        while True:
            try:
                frame = self._heartbeats.recv(zmq.NOBLOCK)
            except zmq.Again:
                return
            try:
                body = unpack(frame, ("hb",)).body
                worker = by_name.get(body["worker"])
                pid, progress = body["pid"], body.get("progress") or {}
                if not isinstance(progress, dict):
                    raise MalformedMessage("progress must be a map")
            except (MalformedMessage, KeyError, TypeError) as exc:
                self._hb_malformed.drop(exc)
                continue
            if worker is None or pid != worker.pid:
                continue  # a late beat from a process that has since been replaced
            if worker.state == State.STARTING:
                worker.state = State.RUNNING
                metrics.WORKER_START_SECONDS.labels(kind=worker.spec.kind).observe(now - worker.started_at)
                log.info(
                    "worker up", worker=worker.spec.name, pid=pid, start_s=round(now - worker.started_at, 3)
                )
            worker.last_heartbeat = now
            worker.progress = progress

    def _check(self, w: WorkerProcess, now: float) -> None:
        name = w.spec.name
        if w.state in (State.STARTING, State.RUNNING, State.STOPPING):
            code = w.poll_exit()
            if code is not None:
                self._on_exit(w, now, w.kill_reason or "crashed", exit_reason(code))
                return
            limit = (
                self.cfg.supervisor.start_timeout_s
                if w.state == State.STARTING
                else self.cfg.supervisor.stall_timeout_s
            )
            if w.state != State.STOPPING and w.heartbeat_age(now) > limit:
                reason = "start_timeout" if w.state == State.STARTING else "stalled"
                log.warning(
                    "worker not heartbeating; killing it",
                    worker=name,
                    reason=reason,
                    heartbeat_age_s=round(w.heartbeat_age(now), 2),
                )
                w.kill_reason = reason
                w.signal(signal.SIGKILL)
        elif w.state in (State.BACKOFF, State.FAILED) and now >= w.restart_at:
            w.spawn(now)
            log.info("worker restarted", worker=name, pid=w.pid, restarts=w.restarts)
        if w.state == State.RUNNING:
            metrics.WORKER_UP.labels(worker=name, kind=w.spec.kind).set(1)
            if w.policy.failed and now - w.started_at >= w.policy.window_s:
                w.policy.on_healthy()
                metrics.WORKER_FAILED.labels(worker=name).set(0)
                self._failed_alarmed.discard(name)
                self._raise("worker_recovered", name, {"worker": name}, Priority.NORMAL)
        else:
            metrics.WORKER_UP.labels(worker=name, kind=w.spec.kind).set(0)
        metrics.WORKER_HEARTBEAT_AGE.labels(worker=name).set(w.heartbeat_age(now) if w.pid else 0)

    def _on_exit(self, w: WorkerProcess, now: float, reason: str, detail: str) -> None:
        name = w.spec.name
        if w.pid is not None:
            metrics.mark_process_dead(w.pid)
        w.last_exit = f"{reason}: {detail}"
        w.restarts += 1
        metrics.WORKER_RESTARTS.labels(worker=name, reason=reason).inc()
        delay = w.policy.on_exit(now)
        w.restart_at = now + delay
        if w.policy.failed:
            w.state = State.FAILED
            metrics.WORKER_FAILED.labels(worker=name).set(1)
            log.error(
                "worker failed: restart budget spent",
                worker=name,
                last_exit=w.last_exit,
                retry_in_s=round(delay, 1),
            )
            if name not in self._failed_alarmed:
                self._failed_alarmed.add(name)
                self._raise(
                    "worker_failed",
                    name,
                    {"worker": name, "last_exit": w.last_exit, "core": w.spec.core},
                    Priority.CRITICAL,
                )
        else:
            w.state = State.BACKOFF
            log.warning("worker exited", worker=name, reason=reason, detail=detail, restarts=w.restarts)
            self._raise(
                "worker_restarted",
                name,
                {"worker": name, "reason": reason, "detail": detail},
                Priority.NORMAL,
            )
        if delay == 0.0:
            self._check(w, now)  # restart at once, in this same loop turn

    def _core_worker_lost(self, now: float) -> bool:
        for w in self.workers:
            failed_since = w.policy.failed_since
            if (
                w.spec.core
                and failed_since is not None
                and w.state != State.RUNNING
                and now - failed_since > self.cfg.supervisor.core_failed_exit_s
            ):
                log.critical(
                    "core worker cannot be kept up; exiting so the service manager restarts us",
                    worker=w.spec.name,
                )
                return True
        return False

    def _raise(self, type_: str, worker: str, data: dict[str, Any], priority: Priority) -> None:
        event = new_event(type_, f"supervisor/{worker}", data, priority)
        metrics.EVENTS_EMITTED.labels(worker="supervisor", type=type_).inc()
        for sender in self._events:
            sender.send(event)
        self._telemetry.publish("event", event)

    # -- control and health -----------------------------------------------------------------

    def _cmd_status(self, _args: dict[str, Any]) -> dict[str, Any]:
        now = time.monotonic()
        return {
            "site": self.cfg.site.id,
            "version": __version__,
            "pid": os.getpid(),
            "uptime_s": round(now - self._started, 1),
            "ready": self._ready_sent,
            "workers": [w.describe(now) for w in self.workers],
        }

    def _cmd_reload(self, _args: dict[str, Any]) -> dict[str, Any]:
        try:
            text = self.config_path.read_text(encoding="utf-8")
            cfg = validate_text(text, SiteConfig, str(self.config_path))
        except OSError as exc:
            raise ValueError(f"{self.config_path}: cannot read: {exc.strerror}") from exc
        except ConfigError as exc:
            raise ValueError("; ".join(exc.lines)) from exc
        self._stop_workers()
        self._write_snapshot(text)
        self.cfg = cfg
        self._start_all()
        return {"workers": len(self.workers)}

    def _health(self) -> tuple[bool, dict[str, Any]]:
        now = time.monotonic()
        loop_ok = now - self._last_loop < 5.0
        failed = [w.spec.name for w in self.workers if w.state == State.FAILED]
        core_failed = [w.spec.name for w in self.workers if w.state == State.FAILED and w.spec.core]
        healthy = loop_ok and not core_failed
        return healthy, {
            "healthy": healthy,
            "supervisor_loop_ok": loop_ok,
            "failed_workers": failed,
            "workers": len(self.workers),
            "running": sum(w.state == State.RUNNING for w in self.workers),
        }

    # -- stopping ---------------------------------------------------------------------------

    def _stop_workers(self) -> None:
        """Producers first, then the sinks they flush into (rules, then uplink); SIGKILL laggards."""
        deadline = time.monotonic() + self.cfg.supervisor.stop_timeout_s
        sinks = ("rules", "uplink")
        stages = [[w for w in self.workers if w.spec.kind not in sinks]]
        stages += [[w for w in self.workers if w.spec.kind == kind] for kind in sinks]
        for i, stage in enumerate(stages):
            # Each stage gets its share of what is left, the last one all of it.
            stage_deadline = time.monotonic() + (deadline - time.monotonic()) / (len(stages) - i)
            for w in stage:
                if w.state in (State.STARTING, State.RUNNING):
                    w.state = State.STOPPING
                    w.signal(signal.SIGTERM)
            while time.monotonic() < stage_deadline and self._any_alive(stage):
                self._forkserver.pump()
                time.sleep(0.02)
            for w in stage:
                if w.pid is not None and w.poll_exit() is None:
                    log.warning("worker did not stop in time; killing", worker=w.spec.name)
                    w.signal(signal.SIGKILL)
            kill_deadline = time.monotonic() + 5
            while time.monotonic() < kill_deadline and self._any_alive(stage):
                self._forkserver.pump()
                time.sleep(0.02)
            for w in stage:
                if w.pid is not None:
                    metrics.mark_process_dead(w.pid)
                w.state = State.STOPPED

    @staticmethod
    def _any_alive(stage: list[WorkerProcess]) -> bool:
        return any(w.pid is not None and w.poll_exit() is None for w in stage)

    def _shutdown(self) -> None:
        sd_notify("STOPPING=1")
        t0 = time.monotonic()
        self._stop_workers()
        for sender in self._events:
            sender.flush(0.5)
            sender.close()
        self._control.close()
        self._telemetry.close()
        self._heartbeats.close(linger=0)
        self._proxy.close()
        self._http.close()
        self._forkserver.close()
        self.zmq.term()
        log.info("supervisor stopped", exit_code=self._exit_code, stop_s=round(time.monotonic() - t0, 2))
