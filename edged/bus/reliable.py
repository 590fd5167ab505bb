"""The reliable event channel: DEALER → ROUTER with application-level acks.

Events that must arrive (alarms, door events) are never sent over PUB/SUB. The sender keeps
every event until the receiver acks it, resends what stays unacked, and survives the
receiver's restart; the receiver acks only after its handler returns (for the outbox: after
the SQLite commit) and skips ids it has already handled. A receiver that restarts may see an
event twice, so a durable handler must itself be idempotent on the event id.

Message kinds: ``events`` ``{"events": [event, ...]}`` sender → receiver, and ``ack``
``{"ids": [id, ...]}`` receiver → sender.
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

import structlog
import zmq

from edged import metrics
from edged.bus.envelope import MalformedMessage, pack, unpack
from edged.bus.malformed import DropCounter, MalformedCounter
from edged.bus.sockets import make_socket
from edged.events import Event, InvalidEvent, validate_event

_log = structlog.get_logger("edged.bus")

BATCH_MAX = 500


class EventSender:
    """Owns a DEALER in a background thread; `send()` is safe from any thread and never blocks."""

    def __init__(
        self,
        ctx: zmq.Context[zmq.Socket[bytes]],
        endpoint: str,
        sink: str,
        worker: str,
        resend_after_s: float = 2.0,
        max_unacked: int = 200_000,
    ) -> None:
        self._ctx, self._endpoint, self.sink, self.worker = ctx, endpoint, sink, worker
        self._resend_after = resend_after_s
        self._max_unacked = max_unacked
        self._queue: queue.SimpleQueue[Event] = queue.SimpleQueue()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)
        os.set_blocking(self._wake_r, False)
        self._unacked: OrderedDict[str, tuple[Event, float]] = OrderedDict()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._idle = threading.Event()
        self._idle.set()
        self._malformed = MalformedCounter(f"events-{sink}-acks")
        self._m_unacked = metrics.EVENTS_UNACKED.labels(worker=worker, sink=sink)
        self._m_resent = metrics.EVENTS_RESENT.labels(worker=worker, sink=sink)
        self._full = DropCounter(
            metrics.EVENTS_DROPPED.labels(worker=worker, sink=sink, reason="backlog_full"),
            "event backlog full: event dropped",
            sink=sink,
            max_unacked=max_unacked,
        )
        self._thread = threading.Thread(target=self._run, name=f"events->{sink}", daemon=True)
        self._thread.start()

    def send(self, event: Event) -> None:
        self._idle.clear()
        self._queue.put(event)
        with contextlib.suppress(BlockingIOError):  # pipe full: the thread is already due to wake
            os.write(self._wake_w, b"\0")

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._unacked) + self._queue.qsize()

    def flush(self, timeout_s: float) -> bool:
        """Wait until every event sent so far is acked; False on timeout (events stay pending)."""
        return self._idle.wait(timeout_s)

    def close(self) -> None:
        self._stop.set()
        os.write(self._wake_w, b"\0")
        self._thread.join(timeout=5)
        os.close(self._wake_r)
        os.close(self._wake_w)

    # -- the socket thread ------------------------------------------------------------------

    def _run(self) -> None:
        sock = make_socket(self._ctx, zmq.DEALER)
        sock.connect(self._endpoint)
        poller = zmq.Poller()
        poller.register(sock, zmq.POLLIN)
        poller.register(self._wake_r, zmq.POLLIN)
        next_resend = time.monotonic() + self._resend_after
        try:
            while not self._stop.is_set():
                ready = dict(poller.poll(timeout=250))
                if self._wake_r in ready:
                    self._drain_wake()
                self._take_new(sock)
                if sock in ready:
                    self._read_acks(sock)
                now = time.monotonic()
                if now >= next_resend:
                    self._resend_due(sock, now)
                    next_resend = now + min(0.5, self._resend_after / 2)
                with self._lock:
                    n = len(self._unacked)
                self._m_unacked.set(n)
                if n == 0 and self._queue.empty():
                    self._idle.set()
        finally:
            sock.close(linger=0)

    def _drain_wake(self) -> None:
        try:
            while os.read(self._wake_r, 4096):
                pass
        except BlockingIOError:
            pass

    def _take_new(self, sock: zmq.Socket[bytes]) -> None:
        fresh: list[Event] = []
        while True:
            try:
                event = self._queue.get_nowait()
            except queue.Empty:
                break
            with self._lock:
                if len(self._unacked) >= self._max_unacked:
                    self._full.drop(event.get("type"))
                    continue
                self._unacked[event["id"]] = (event, 0.0)
            fresh.append(event)
        self._transmit(sock, fresh)

    def _transmit(self, sock: zmq.Socket[bytes], events: list[Event]) -> None:
        now = time.monotonic()
        for start in range(0, len(events), BATCH_MAX):
            chunk = events[start : start + BATCH_MAX]
            try:
                sock.send(pack("events", {"events": chunk}), zmq.NOBLOCK)
            except zmq.Again:
                return  # receiver absent or slow: everything stays unacked and is resent later
            with self._lock:
                for ev in chunk:
                    if ev["id"] in self._unacked:
                        self._unacked[ev["id"]] = (ev, now)

    def _read_acks(self, sock: zmq.Socket[bytes]) -> None:
        while True:
            try:
                frame = sock.recv(zmq.NOBLOCK)
            except zmq.Again:
                return
            try:
                env = unpack(frame, ("ack",))
                ids = env.body["ids"]
                if not isinstance(ids, list):
                    raise MalformedMessage("ack ids must be a list")
            except (MalformedMessage, KeyError, TypeError) as exc:
                self._malformed.drop(exc)
                continue
            with self._lock:
                for event_id in ids:
                    if isinstance(event_id, str):
                        self._unacked.pop(event_id, None)

    def _resend_due(self, sock: zmq.Socket[bytes], now: float) -> None:
        with self._lock:
            due = [ev for ev, sent in self._unacked.values() if now - sent >= self._resend_after]
        if due:
            self._m_resent.inc(len(due))
            self._transmit(sock, due)


Handler = Callable[[list[Event]], None]


class EventReceiver:
    """ROUTER side: validates, dedupes by id, calls `handler` with a batch, then acks it."""

    def __init__(
        self,
        ctx: zmq.Context[zmq.Socket[bytes]],
        endpoint: str,
        sink: str,
        handler: Handler,
        batch_max: int = BATCH_MAX,
        remember: int = 100_000,
    ) -> None:
        self.sink = sink
        self._handler = handler
        self._batch_max = batch_max
        self._remember = remember
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._malformed = MalformedCounter(f"events-{sink}")
        self.socket = make_socket(ctx, zmq.ROUTER)
        self.socket.bind(endpoint)
        self._m_new = metrics.EVENTS_RECEIVED.labels(sink=sink, result="new")
        self._m_dup = metrics.EVENTS_RECEIVED.labels(sink=sink, result="duplicate")
        self._m_bad = metrics.EVENTS_RECEIVED.labels(sink=sink, result="invalid")
        self._m_err = metrics.EVENTS_RECEIVED.labels(sink=sink, result="handler_error")
        self._handler_errors = DropCounter(
            metrics.EVENTS_HANDLER_FAILURES.labels(sink=sink),
            "event handler failed; events will be resent",
            sink=sink,
        )

    def poll(self, timeout_ms: int) -> int:
        """Wait up to `timeout_ms` for events and handle what arrived; returns how many were new."""
        if not self.socket.poll(timeout_ms, zmq.POLLIN):
            return 0
        return self.handle_ready()

    def handle_ready(self) -> int:
        acks: dict[bytes, list[str]] = {}
        fresh: list[Event] = []
        fresh_ids: set[str] = set()
        received = 0
        while received < self._batch_max:
            try:
                frames = self.socket.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                break
            received += 1
            if len(frames) != 2:
                self._malformed.drop(f"{len(frames)} frames")
                continue
            peer, payload = frames
            try:
                batch = unpack(payload, ("events",)).body["events"]
                if not isinstance(batch, list):
                    raise MalformedMessage("events must be a list")
            except (MalformedMessage, KeyError, TypeError) as exc:
                self._malformed.drop(exc)
                continue
            for raw in batch:
                try:
                    event = validate_event(raw)
                except InvalidEvent as exc:
                    self._m_bad.inc()
                    self._malformed.drop(exc)
                    if isinstance(raw, dict) and isinstance(raw.get("id"), str):
                        acks.setdefault(peer, []).append(raw["id"])  # never resend a poison event
                    continue
                acks.setdefault(peer, []).append(event["id"])
                if event["id"] in self._seen or event["id"] in fresh_ids:
                    self._m_dup.inc()
                    continue
                fresh_ids.add(event["id"])
                fresh.append(event)
        if fresh:
            try:
                self._handler(fresh)
            except Exception as exc:
                # Not acked, so resent: nothing is lost. A full disk fails every batch, so log by interval.
                self._m_err.inc(len(fresh))
                self._handler_errors.drop(f"{type(exc).__name__}: {exc}")
                return 0
            self._m_new.inc(len(fresh))
            for event_id in fresh_ids:
                self._seen[event_id] = None
            while len(self._seen) > self._remember:
                self._seen.popitem(last=False)
        for peer, ids in acks.items():
            with contextlib.suppress(zmq.ZMQError):  # peer gone: it resends, we ack the duplicate then
                self.socket.send_multipart([peer, pack("ack", {"ids": ids})], zmq.NOBLOCK)
        return len(fresh)

    def close(self) -> None:
        self.socket.close(linger=0)
