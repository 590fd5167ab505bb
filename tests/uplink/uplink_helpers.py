"""Real processes for the uplink tests: the reference receiver, the uplink worker, keys, a site."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
import zmq
from support.daemon import free_port, wait_for

from edged.bus.endpoints import Endpoints
from edged.bus.reliable import EventSender
from edged.uplink import keys
from edged.uplink.receiver_db import enqueue_command, wait_command

__all__ = ["Box", "Keys", "ReceiverProc", "free_port", "make_keys", "receiver_rows", "wait_for"]


@dataclass
class Keys:
    dir: Path  # the receiver's keys dir
    server: keys.KeyPair
    box_file: Path  # the box's key_secret
    box: keys.KeyPair

    def allow(self, site: str) -> Path:
        (self.dir / keys.ALLOWED_DIR).mkdir(exist_ok=True)
        target = self.dir / keys.ALLOWED_DIR / f"{site}.key"
        shutil.copy(self.box_file.with_suffix(".key"), target)
        return target


def make_keys(root: Path, site: str | None = "site-a") -> Keys:
    _, _, server = keys.generate(root / "server-keys", keys.SERVER_NAME)
    _, box_file, box = keys.generate(root / "box-keys", "box")
    k = Keys(root / "server-keys", server, box_file, box)
    if site:
        k.allow(site)
    return k


class ReceiverProc:
    """`edged receiver` as a child process on a fixed port (so it can be killed and restarted)."""

    def __init__(self, root: Path, keys_dir: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        self.db = root / "receiver.db"
        self.keys_dir = keys_dir
        self.log = root / "receiver.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    def start(self) -> ReceiverProc:
        args = ["--bind", self.endpoint, "--keys", str(self.keys_dir), "--db", str(self.db), "--print"]
        offset = self.log.stat().st_size if self.log.exists() else 0
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "edged", "receiver", *args],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        proc = self.proc
        wait_for(lambda: b"listening" in self.log.read_bytes()[offset:] or proc.poll() is not None, 30)
        assert proc.poll() is None, self.log.read_text()
        return self

    def kill9(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill9()

    def command(self, site: str, name: str, args: dict[str, Any], timeout_s: float = 20) -> dict[str, Any]:
        conn = sqlite3.connect(self.db, isolation_level=None, timeout=30)
        try:
            cid = enqueue_command(conn, site, name, args)
        finally:
            conn.close()
        result = wait_command(self.db, cid, timeout_s)
        assert result is not None, f"no result for {name} within {timeout_s} s"
        return result


EVENTS_SQL = "SELECT site, id, priority, type FROM events ORDER BY seq"


def receiver_rows(db: Path, sql: str = EVENTS_SQL) -> list[Any]:
    if not db.exists():
        return []
    conn = sqlite3.connect(db, timeout=30)
    try:
        return conn.execute(sql).fetchall()
    except sqlite3.OperationalError:  # not created yet
        return []
    finally:
        conn.close()


class Box:
    """The real uplink worker (`python -m edged.workers uplink`) and a producer on the bus."""

    def __init__(self, root: Path, site: str, server: str | None, k: Keys | None, **uplink: Any) -> None:
        self.root = root
        self.run_dir = Path("/tmp") / f"eu-{os.getpid()}-{id(self) % 10**6}"
        self.state = root / "state"
        up: dict[str, Any] = {"backoff_min_s": 0.2, "backoff_max_s": 1.0, **uplink}
        if server is not None and k is not None:
            up.update(server=server, server_public_key=k.server.public.decode(), key_file=str(k.box_file))
        self.site: dict[str, Any] = {
            "site": {"id": site},
            "runtime": {"run_dir": str(self.run_dir), "state_dir": str(self.state)},
            "logging": {"format": "json"},
            "uplink": up,
        }
        self.config = root / "site.yaml"
        self.config.write_text(yaml.safe_dump(self.site))
        self.outbox = self.state / "uplink" / "outbox.db"
        self.log = root / "uplink.log"
        self.endpoints = Endpoints(self.run_dir)
        self.endpoints.prepare()
        self.proc: subprocess.Popen[bytes] | None = None
        self.zctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
        self._producer: EventSender | None = None

    def start(self, wait: bool = False) -> Box:
        """Start the worker; with `wait`, return once its loop runs (the bus endpoint is bound)."""
        offset = self.log.stat().st_size if self.log.exists() else 0
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "edged.workers", "uplink", "--config", str(self.config)],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        if wait:
            proc = self.proc
            wait_for(
                lambda: b"uplink started" in self.log.read_bytes()[offset:] or proc.poll() is not None, 30
            )
            assert proc.poll() is None, self.log.read_text()
        return self

    @property
    def producer(self) -> EventSender:
        if self._producer is None:
            self._producer = EventSender(self.zctx, self.endpoints.events("uplink"), "uplink", "test", 1.0)
        return self._producer

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill9(self) -> None:
        if self.alive():
            assert self.proc is not None
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.alive():
            assert self.proc is not None
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill9()

    def close(self) -> None:
        self.stop()
        if self._producer is not None:
            self._producer.close()
        self.zctx.term()
        shutil.rmtree(self.run_dir, ignore_errors=True)

    def outbox_rows(self, sql: str = "SELECT priority, COUNT(*) FROM events GROUP BY priority") -> list[Any]:
        if not self.outbox.exists():
            return []
        conn = sqlite3.connect(f"file:{self.outbox}?mode=ro", uri=True, timeout=30)
        try:
            return conn.execute(sql).fetchall()
        except sqlite3.OperationalError:
            return []
        finally:
            conn.close()


def wait_idle(sender: EventSender, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while sender.pending and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sender.pending == 0, f"{sender.pending} events not accepted by the outbox"
