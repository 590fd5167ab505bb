"""Commands with timeouts: every command gets a result or a `CommandTimeout`.

Kinds: ``cmd`` ``{"id", "name", "args"}`` client → server, ``result``
``{"id", "ok", "result" | "error"}`` server → client. A client whose call times out rebuilds
its socket, so a late reply can never be taken for the answer to the next call.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import structlog
import zmq

from edged import metrics
from edged.bus.envelope import MalformedMessage, pack, unpack
from edged.bus.malformed import MalformedCounter
from edged.bus.sockets import make_socket
from edged.ids import new_id

_log = structlog.get_logger("edged.bus")


class CommandError(RuntimeError):
    """The server answered that the command failed."""


class CommandTimeout(TimeoutError):
    """No answer within the timeout (the server is down, busy or the command is stuck)."""


class CommandClient:
    """One outstanding call at a time; use one client per thread."""

    def __init__(self, ctx: zmq.Context[zmq.Socket[bytes]], endpoint: str) -> None:
        self._ctx, self._endpoint = ctx, endpoint
        self._sock = self._connect()
        self._malformed = MalformedCounter(f"cmd-client:{endpoint.rsplit('/', 1)[-1]}")

    def _connect(self) -> zmq.Socket[bytes]:
        sock = make_socket(self._ctx, zmq.DEALER, hwm=100)
        sock.setsockopt(zmq.IMMEDIATE, 0)  # a command may be sent while the server (re)starts
        sock.connect(self._endpoint)
        return sock

    def call(self, name: str, args: Mapping[str, Any] | None = None, timeout_s: float = 2.0) -> Any:
        request_id = new_id()
        deadline = time.monotonic() + timeout_s
        try:
            self._sock.send(
                pack("cmd", {"id": request_id, "name": name, "args": dict(args or {})}), zmq.NOBLOCK
            )
        except zmq.Again:
            self._rebuild()
            raise CommandTimeout(f"{name}: cannot send to {self._endpoint}") from None
        while (left := deadline - time.monotonic()) > 0:
            if not self._sock.poll(int(left * 1000) + 1, zmq.POLLIN):
                continue
            try:
                body = unpack(self._sock.recv(), ("result",)).body
                if not isinstance(body, dict):
                    raise MalformedMessage("result must be a map")
            except MalformedMessage as exc:
                self._malformed.drop(exc)
                continue
            if body.get("id") != request_id:
                continue  # a stale reply to an earlier call
            if body.get("ok"):
                return body.get("result")
            raise CommandError(str(body.get("error", "command failed")))
        self._rebuild()
        raise CommandTimeout(f"{name}: no result within {timeout_s:g} s")

    def _rebuild(self) -> None:
        self._sock.close(linger=0)
        self._sock = self._connect()

    def close(self) -> None:
        self._sock.close(linger=0)


CommandHandler = Callable[[dict[str, Any]], Any]


class CommandServer:
    """ROUTER that dispatches commands to handlers; a handler's exception becomes an error result."""

    def __init__(
        self,
        ctx: zmq.Context[zmq.Socket[bytes]],
        endpoint: str,
        handlers: Mapping[str, CommandHandler],
        name: str = "commands",
    ) -> None:
        self._handlers = dict(handlers)
        self._malformed = MalformedCounter(name)
        self.socket = make_socket(ctx, zmq.ROUTER, hwm=1000)
        self.socket.bind(endpoint)

    def poll(self, timeout_ms: int) -> int:
        if not self.socket.poll(timeout_ms, zmq.POLLIN):
            return 0
        return self.handle_ready()

    def handle_ready(self) -> int:
        handled = 0
        while True:
            try:
                frames = self.socket.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return handled
            if len(frames) != 2:
                self._malformed.drop(f"{len(frames)} frames")
                continue
            peer, payload = frames
            try:
                body = unpack(payload, ("cmd",)).body
                request_id, name, args = body["id"], body["name"], body.get("args") or {}
                if not isinstance(name, str) or not isinstance(args, dict):
                    raise MalformedMessage("name must be a string and args a map")
            except (MalformedMessage, KeyError, TypeError) as exc:
                self._malformed.drop(exc)
                continue
            self.socket.send_multipart([peer, pack("result", self._dispatch(request_id, name, args))])
            handled += 1

    def _dispatch(self, request_id: Any, name: str, args: dict[str, Any]) -> dict[str, Any]:
        handler = self._handlers.get(name)
        if handler is None:
            metrics.COMMANDS.labels(command="unknown", result="error").inc()
            return {"id": request_id, "ok": False, "error": f"unknown command {name!r}"}
        try:
            result = handler(args)
        except Exception as exc:
            metrics.COMMANDS.labels(command=name, result="error").inc()
            _log.warning("command failed", command=name, error=str(exc))
            return {"id": request_id, "ok": False, "error": f"{type(exc).__name__}: {exc}"}
        metrics.COMMANDS.labels(command=name, result="ok").inc()
        return {"id": request_id, "ok": True, "result": result}

    def close(self) -> None:
        self.socket.close(linger=0)
