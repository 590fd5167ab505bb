"""A fork server: one pre-imported interpreter that forks workers on request.

A fresh interpreter spends most of a second importing pydantic models, zmq, structlog and
prometheus-client on a busy 2-core box; forking a process that has already imported them
starts a worker in milliseconds, so a crashed worker is back well within a second. This is
design.md's `forkserver` start method, with our own protocol instead of multiprocessing's,
which pickles the process object over its socket.

Protocol: JSON lines over two pipes. The supervisor writes
``{"spawn": NAME, "config": PATH, "source": PATH, "nice": N}``;
the server answers ``{"spawned": NAME, "pid": PID}`` and reports
every child's end as ``{"exited": PID, "code": CODE}`` (negative: killed by that signal).
The server imports nothing that starts threads (no numpy, cv2, onnxruntime): forking a
process with threads is unsafe, so workers import those themselves after the fork.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import select
import signal
import subprocess
import sys
import traceback
from typing import Any

PR_SET_PDEATHSIG = 1


def die_with_parent(sig: signal.Signals = signal.SIGTERM) -> None:
    """Ask the kernel to signal us when our parent dies (so no worker outlives the daemon)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)


# -- the server process ---------------------------------------------------------------------


def serve(request_fd: int, reply_fd: int) -> None:
    import edged.bus.commands
    import edged.bus.reliable
    import edged.config
    import edged.logs
    import edged.workers.__main__
    import edged.workers.runtime  # noqa: F401

    die_with_parent()
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    children: set[int] = set()
    pending = b""
    while True:
        try:
            readable, _, _ = select.select([request_fd, wake_r], [], [], 1.0)
        except InterruptedError:
            readable = []
        if wake_r in readable:
            with contextlib.suppress(BlockingIOError):
                os.read(wake_r, 4096)
        _reap(children, reply_fd)
        if request_fd in readable:
            chunk = os.read(request_fd, 65536)
            if not chunk:  # the supervisor is gone: so are we, and our children
                for pid in children:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGTERM)
                return
            pending += chunk
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                request = json.loads(line)
                pid = os.fork()
                if pid == 0:
                    _child(request, (request_fd, reply_fd, wake_r, wake_w))
                children.add(pid)
                _reply(reply_fd, {"spawned": request["spawn"], "pid": pid})


def _reap(children: set[int], reply_fd: int) -> None:
    while children:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        children.discard(pid)
        _reply(reply_fd, {"exited": pid, "code": os.waitstatus_to_exitcode(status)})


def _reply(fd: int, message: dict[str, object]) -> None:
    os.write(fd, json.dumps(message).encode() + b"\n")


def _child(request: dict[str, Any], fds: tuple[int, ...]) -> None:
    code: int = 1
    try:
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        for fd in fds:
            os.close(fd)
        die_with_parent()
        if request.get("nice"):
            os.nice(int(request["nice"]))
        from edged.workers.__main__ import main

        code = main([request["spawn"], "--config", request["config"], "--source", request["source"]]) or 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


# -- the supervisor's side ------------------------------------------------------------------


class ForkServer:
    """The supervisor's handle on the fork server; restarts it if it dies."""

    def __init__(self, env: dict[str, str]) -> None:
        self._env = env
        self.exit_codes: dict[int, int] = {}
        self._children: set[int] = set()
        self._start()

    def _start(self) -> None:
        req_r, self._req_w = os.pipe()
        self._rep_r, rep_w = os.pipe()
        # stdout/stderr stay the daemon's: they carry the workers' log lines.
        self.proc = subprocess.Popen(
            [sys.executable, "-c", f"from edged.supervisor.forkserver import serve; serve({req_r}, {rep_w})"],
            env=self._env,
            stdin=subprocess.DEVNULL,
            pass_fds=(req_r, rep_w),
            close_fds=True,
        )
        os.close(req_r)
        os.close(rep_w)
        self._buffer = b""

    def fileno(self) -> int:
        return self._rep_r

    def spawn(self, name: str, config: str, source: str, nice: int = 0, timeout_s: float = 10.0) -> int:
        self._ensure_alive()
        request = {"spawn": name, "config": config, "source": source, "nice": nice}
        os.write(self._req_w, json.dumps(request).encode() + b"\n")
        while True:
            for message in self._read(timeout_s):
                if message.get("spawned") == name:
                    pid = int(message["pid"])
                    self._children.add(pid)
                    return pid
            if self.proc.poll() is not None:
                raise RuntimeError("fork server died while spawning")

    def pump(self) -> None:
        """Collect exit reports that have arrived (non-blocking)."""
        self._ensure_alive()
        for _ in self._read(0):
            pass

    def _read(self, timeout_s: float) -> list[dict[str, Any]]:
        ready, _, _ = select.select([self._rep_r], [], [], timeout_s)
        if not ready:
            return []
        chunk = os.read(self._rep_r, 65536)
        self._buffer += chunk
        messages = []
        while b"\n" in self._buffer:
            line, self._buffer = self._buffer.split(b"\n", 1)
            message = json.loads(line)
            if "exited" in message:
                pid = int(message["exited"])
                self._children.discard(pid)
                self.exit_codes[pid] = int(message["code"])
            messages.append(message)
        return messages

    def _ensure_alive(self) -> None:
        if self.proc.poll() is None:
            return
        # Its children got SIGTERM from the kernel (PDEATHSIG); count them as killed, start anew.
        for pid in self._children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            self.exit_codes[pid] = -int(signal.SIGKILL)
        self._children.clear()
        os.close(self._req_w)
        os.close(self._rep_r)
        self._start()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self._req_w)  # EOF: the server terminates its children and exits
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        with contextlib.suppress(OSError):
            os.close(self._rep_r)
