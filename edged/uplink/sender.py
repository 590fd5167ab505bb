"""Delivery: outbox rows → compressed batches → server; rows are deleted only on the server's ack.

A window of batches is kept in flight. A batch goes out as soon as the window has room, with
whatever is waiting (≤ 500 events, ≤ 64 KiB uncompressed), so a lone event is not held back
and a backlog naturally fills whole batches. When the link is lost every batch in flight is
forgotten and the per-lane cursors restart from the front of the outbox: rows still there are
sent again (P0 first) and the server's `UNIQUE(site, id)` turns resends into no-ops.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog
import zmq

from edged import __version__
from edged.uplink import metrics as m
from edged.uplink import protocol as p
from edged.uplink.files import FileShipper
from edged.uplink.link import Link, LinkEvent, LinkSettings
from edged.uplink.outbox import Outbox
from edged.uplink.reader import OutboxReader

log = structlog.get_logger()

CommandHandler = Callable[[dict[str, Any], Callable[[dict[str, Any]], None]], None]
AckListener = Callable[[list[int], float], None]  # (created_ms of the acked events, ack time)


@dataclass(frozen=True)
class BatchSettings:
    max_events: int = 500
    max_bytes: int = 64 << 10
    window: int = 8
    codec: str = "zstd"
    ack_timeout_s: float = 10.0
    file_chunk_bytes: int = 64 << 10


@dataclass
class _Batch:
    seqs: list[int]
    prios: list[int]
    created: list[int]
    sent_at: float


class Sender:
    def __init__(
        self,
        ctx: zmq.Context[zmq.Socket[bytes]],
        outbox: Outbox,
        link: LinkSettings,
        batch: BatchSettings | None = None,
        on_command: CommandHandler | None = None,
        on_acked: AckListener | None = None,
    ) -> None:
        self.outbox = outbox
        self.reader = OutboxReader(outbox.path)
        self.link = Link(ctx, link)
        self.b = batch or BatchSettings()
        self.on_command = on_command
        self.on_acked = on_acked
        self.files = FileShipper(outbox, self.reader, self.b.file_chunk_bytes)
        self.cursors = {0: 0, 1: 0, 2: 0}
        self.inflight: dict[int, _Batch] = {}
        self.next_n = 1
        self._seen_commits = -1
        self._more = True
        self._results: deque[dict[str, Any]] = deque()
        self._stats_at = 0.0
        self._lost_logged = -1e9
        self._losses = 0

    # -- lifecycle -----------------------------------------------------------------------
    def run(self, stopping: threading.Event) -> None:
        poller_timeout_ms = 20
        try:
            while not stopping.is_set():
                now = time.monotonic()
                if self.link.sock is None:
                    if now >= self.link.next_attempt:
                        self.link.open(now)
                    else:
                        stopping.wait(min(0.1, self.link.next_attempt - now))
                        self._publish_stats(now)
                        continue
                poller = zmq.Poller()
                for s in self.link.poll_sockets():
                    poller.register(s, zmq.POLLIN)
                poller.poll(poller_timeout_ms)
                try:
                    self.step(time.monotonic())
                except Exception as exc:  # never let delivery stop: start over on a fresh socket
                    log.exception("uplink_sender_error", error=str(exc))
                    self._lost(time.monotonic(), "error")
        finally:
            self.link.close(time.monotonic(), failed=False)
            self.reader.close()

    def step(self, now: float) -> None:
        for ev in self.link.monitor_events():
            if ev is LinkEvent.UP:
                self._on_up()
            else:
                self._lost(now, ev.value)
                return
        if self.link.sock is None:
            return
        if self.link.handshake_overdue(now):
            self._lost(now, "handshake_timeout")
            return
        while (frame := self.link.recv()) is not None:
            self._on_message(frame, now)
        if not self.link.up:
            return
        if self._overdue(now):
            self._lost(now, "ack_timeout")
            return
        while self._results:
            self.link.send(p.pack(p.RESULT, self._results.popleft()))
        self._fill_window(now)
        if not self._more and len(self.inflight) < self.b.window:
            chunk = self.files.next_chunk(now)
            if chunk is not None and not self.link.send(p.pack(p.FILE, chunk)):
                self.files.reset()
        self._publish_stats(now)

    # -- events --------------------------------------------------------------------------
    def _on_up(self) -> None:
        log.info("uplink_connected", server=self.link.s.server)
        self.link.send(p.pack(p.HELLO, {"box_version": __version__, "codecs": ["zstd", "none"]}))
        self._reset_cursors()

    def _lost(self, now: float, why: str) -> None:
        if self.inflight:
            m.BATCHES_RETRIED.inc(len(self.inflight))
        self._losses += 1
        if self.link.attempt == 0 or now - self._lost_logged >= 60.0:  # a day-long outage: a line a minute
            attempt = self.link.attempt + 1
            if why == LinkEvent.AUTH_FAILED.value:
                log.error(
                    "uplink_auth_refused", server=self.link.s.server, attempt=attempt, failures=self._losses
                )
            else:
                log.warning("uplink_link_lost", why=why, inflight=len(self.inflight), attempt=attempt)
            self._lost_logged, self._losses = now, 0
        self.inflight.clear()
        self.files.reset()
        self._reset_cursors()
        self.link.close(now, failed=True)

    def _reset_cursors(self) -> None:
        self.cursors = {0: 0, 1: 0, 2: 0}
        self._more = True

    def _overdue(self, now: float) -> bool:
        oldest = min((b.sent_at for b in self.inflight.values()), default=now)
        return now - oldest > self.b.ack_timeout_s or self.files.timed_out(now, self.b.ack_timeout_s)

    def _fill_window(self, now: float) -> None:
        if self.outbox.commits != self._seen_commits:
            self._seen_commits = self.outbox.commits
            self._more = True
        while self._more and len(self.inflight) < self.b.window:
            rows, self._more = self.reader.fetch(self.cursors, self.b.max_events, self.b.max_bytes)
            if not rows:
                self._more = False
                break
            payload, raw_size = p.encode_events([r.body for r in rows], self.b.codec)
            n = self.next_n
            self.next_n += 1
            frame = p.pack(
                p.BATCH, {"n": n, "codec": self.b.codec, "count": len(rows), "raw": raw_size, "data": payload}
            )
            if not self.link.send(frame):
                self._reset_cursors()  # not sent: these rows go out again with the next batch
                return
            self.inflight[n] = _Batch(
                [r.seq for r in rows], [r.priority for r in rows], [r.created_ms for r in rows], now
            )
            m.BATCHES_SENT.inc()

    def _on_message(self, frame: bytes, now: float) -> None:
        try:
            msg = p.unpack(frame, p.SERVER_KINDS)
        except p.ProtocolError as exc:
            m.MALFORMED.inc()
            log.warning("uplink_malformed_message", error=str(exc))
            return
        if msg.kind == p.ACK:
            self._on_ack(msg.body, now)
        elif msg.kind == p.NACK:
            self._on_nack(msg.body)
        elif msg.kind == p.FILE_ACK:
            self.files.on_ack(msg.body)
        elif msg.kind == p.CMD:
            self._on_command(msg.body)
        elif msg.kind == p.WELCOME:
            self.link.attempt = 0

    def _batch_of(self, body: dict[str, Any]) -> _Batch | None:
        n = body.get("n")
        return self.inflight.pop(n, None) if isinstance(n, int) else None

    def _on_ack(self, body: dict[str, Any], now: float) -> None:
        batch = self._batch_of(body)
        if batch is None:
            return
        self.outbox.delete(batch.seqs)
        self.link.attempt = 0
        m.BATCHES_ACKED.inc()
        m.BATCH_RTT.observe(now - batch.sent_at)
        m.LAST_ACK.set(time.time())
        for prio in (0, 1, 2):
            k = batch.prios.count(prio)
            if k:
                m.EVENTS_ACKED.labels(str(prio)).inc(k)
        if self.on_acked is not None:
            self.on_acked(batch.created, time.time())

    def _on_nack(self, body: dict[str, Any]) -> None:
        """The server could not decode a batch: resending the same bytes cannot help; drop, count."""
        batch = self._batch_of(body)
        if batch is None:
            return
        log.error("uplink_batch_rejected", events=len(batch.seqs), error=str(body.get("error")))
        self.outbox.delete(batch.seqs)
        for prio in (0, 1, 2):
            k = batch.prios.count(prio)
            if k:
                m.EVICTIONS.labels(str(prio), "rejected").inc(k)

    def _on_command(self, body: dict[str, Any]) -> None:
        if self.on_command is None:
            self._results.append({"id": body.get("id"), "ok": False, "error": "this box takes no commands"})
            return
        self.on_command(body, self._results.append)

    def _publish_stats(self, now: float) -> None:
        if now - self._stats_at < 1.0:
            return
        self._stats_at = now
        self.outbox.lanes.publish()
        self.reader.publish_ages()
