"""Commands from the server, run on the box; every command gets a result.

Commands run one at a time on their own thread, so a slow door never stalls delivery. Each
result is recorded in the outbox (`commands` table) before it is sent: when the server
repeats a command (it had no answer, e.g. the link dropped) the box answers from the record
instead of running it twice.

Commands: `credentials.sync`, `door.open`, `door.mode`, `lockdown`, `config.push`, `ping`.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

import structlog

from edged.uplink import metrics as m
from edged.uplink.actions import ActionError, Actions
from edged.uplink.outbox import Outbox

log = structlog.get_logger()
Reply = Callable[[dict[str, Any]], None]
KEEP_RESULTS_S = 7 * 86400


class Downlink:
    def __init__(self, outbox: Outbox, actions: Actions) -> None:
        self.outbox = outbox
        self.actions = actions
        self._queue: queue.Queue[tuple[dict[str, Any], Reply] | None] = queue.Queue(maxsize=1000)
        self._thread = threading.Thread(target=self._run, name="downlink", daemon=True)
        self._started = False

    def start(self) -> None:
        self._started = True
        self._thread.start()

    def submit(self, body: dict[str, Any], reply: Reply) -> None:
        """Called from the sender thread: never blocks it."""
        try:
            self._queue.put_nowait((body, reply))
        except queue.Full:
            reply({"id": body.get("id"), "ok": False, "error": "busy: too many commands queued"})

    def stop(self) -> None:
        if self._started:
            self._queue.put(None)
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            body, reply = item
            try:
                reply(self.execute(body))
            except Exception as exc:  # a result must always go back
                log.exception("downlink_command_crashed", error=str(exc))
                reply({"id": body.get("id"), "ok": False, "error": f"internal error: {exc}"})

    def execute(self, body: dict[str, Any]) -> dict[str, Any]:
        cid, name, args = body.get("id"), body.get("name"), body.get("args")
        if not isinstance(cid, str) or not cid or not isinstance(name, str):
            m.COMMANDS.labels("malformed", "error").inc()
            return {"id": cid, "ok": False, "error": "a command needs a string id and name"}
        stored = self.outbox.call(
            lambda conn: conn.execute("SELECT result FROM commands WHERE id=?", (cid,)).fetchone()
        )
        if stored is not None:  # the server repeats a command it has no answer for
            repeated: dict[str, Any] = json.loads(stored[0])
            return repeated
        label = name if name in self.actions.names() else "unknown"
        result: dict[str, Any] = {"id": cid, "name": name}
        try:
            if not isinstance(args, dict):
                raise ActionError("args must be a map")
            result.update(ok=True, result=self.actions.run(name, args))
            m.COMMANDS.labels(label, "ok").inc()
        except ActionError as exc:
            result.update(ok=False, error=str(exc), **({"errors": exc.lines} if exc.lines else {}))
            m.COMMANDS.labels(label, "error").inc()
        log.info("downlink_command", id=cid, command=name, ok=result["ok"], error=result.get("error"))
        now_ms = int(time.time() * 1000)
        text = json.dumps(result, default=str)
        self.outbox.call(
            lambda conn: (
                conn.execute(
                    "INSERT OR REPLACE INTO commands(id, name, received_ms, result) VALUES (?,?,?,?)",
                    (cid, name, now_ms, text),
                ),
                conn.execute("DELETE FROM commands WHERE received_ms < ?", (now_ms - KEEP_RESULTS_S * 1000,)),
            )
        )
        self.actions.after(name, result)
        return result
