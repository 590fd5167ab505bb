"""The reference central server: a CurveZMQ ROUTER that stores what boxes send and acks it.

Each loop turn drains what has arrived, stores it in one transaction, commits (fsync) and only
then sends the acks, so an ack always means "durably stored". The site of every message comes
from the key that authenticated the connection (ZAP User-Id → allow-list), never from the
payload. Downlink commands queued in the `commands` table go to the site's current connection
and are resent until the box answers (the box answers a repeat from its own record).
"""

from __future__ import annotations

import contextlib
import json
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import structlog
import zmq
from prometheus_client import Counter

from edged.events import InvalidEvent, validate_event
from edged.uplink import protocol as p
from edged.uplink.keys import SERVER_NAME, load_pair
from edged.uplink.receiver_db import connect, insert_events, to_json
from edged.uplink.receiver_files import FileStore
from edged.uplink.zap import AllowList, ZapHandler

log = structlog.get_logger()

STORED = Counter("edged_receiver_events_stored_total", "events stored (new)")
DUPS = Counter("edged_receiver_events_duplicate_total", "events already stored (box resends)")
INVALID = Counter("edged_receiver_events_invalid_total", "events dropped as not matching the schema")
AUTH_FAIL = Counter("edged_receiver_auth_failures_total", "connections refused", ["reason"])
REFUSED_MSGS = Counter("edged_receiver_refused_messages_total", "messages from keys no longer allowed")
MALFORMED = Counter("edged_receiver_malformed_messages_total", "messages that do not follow the protocol")

DRAIN_MAX = 256
COMMAND_RESEND_S = 10.0


@dataclass
class ReceiverSettings:
    bind: str
    keys_dir: Path
    db: Path
    files_dir: Path | None = None
    print_to: TextIO | None = None


class Receiver:
    def __init__(self, settings: ReceiverSettings, ctx: zmq.Context[zmq.Socket[bytes]] | None = None) -> None:
        self.s = settings
        self.ctx = ctx or zmq.Context()
        self._own_ctx = ctx is None
        self.db = connect(settings.db)
        self.files = FileStore(
            self.db, settings.files_dir or settings.db.with_name(settings.db.name + ".files")
        )
        self.allow = AllowList(settings.keys_dir)
        self.zap = ZapHandler(self.ctx, self.allow, self._auth_failed)
        pair = load_pair(settings.keys_dir / f"{SERVER_NAME}.key_secret")
        self.router: zmq.Socket[bytes] = self.ctx.socket(zmq.ROUTER)
        self.router.setsockopt(zmq.LINGER, 0)
        self.router.curve_server = True
        self.router.curve_secretkey = pair.secret
        self.router.curve_publickey = pair.public
        self.router.setsockopt(zmq.ZAP_DOMAIN, b"edged")
        self.router.setsockopt(zmq.HEARTBEAT_IVL, 1000)
        self.router.setsockopt(zmq.HEARTBEAT_TIMEOUT, 3000)
        self.router.setsockopt(zmq.ROUTER_MANDATORY, 1)
        self.router.setsockopt(zmq.RCVHWM, 10_000)
        self.router.bind(settings.bind)
        self.endpoint = str(self.router.get_string(zmq.LAST_ENDPOINT))
        self.peers: dict[str, bytes] = {}  # site -> routing id of its latest connection
        self._pending_failures: list[tuple[str, str, str]] = []
        self._next_commands = 0.0
        self.on_stored: Callable[[str, list[dict[str, Any]]], None] | None = None

    # -- loop ------------------------------------------------------------------------------
    def serve(self, stopping: threading.Event) -> None:
        poller = zmq.Poller()
        poller.register(self.router, zmq.POLLIN)
        poller.register(self.zap.sock, zmq.POLLIN)
        try:
            while not stopping.is_set():
                ready = dict(poller.poll(100))
                if self.zap.sock in ready:
                    self.zap.handle()
                if self.router in ready:
                    self._drain()
                self._record_failures()
                self._send_commands()
        finally:
            self.close()

    def close(self) -> None:
        self.router.close(linger=0)
        self.zap.close()
        self.db.close()
        if self._own_ctx:
            self.ctx.term()

    def _drain(self) -> None:
        now = time.time()
        replies: list[tuple[bytes, bytes]] = []
        printed: list[tuple[str, dict[str, Any]]] = []
        self.db.execute("BEGIN IMMEDIATE")
        try:
            for _ in range(DRAIN_MAX):
                try:
                    frames = self.router.recv_multipart(zmq.NOBLOCK, copy=False)
                except zmq.Again:
                    break
                self._handle(frames, now, replies, printed)
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        for rid, frame in replies:  # only after the commit: an ack means durably stored
            self._reply(rid, frame)
        for site, event in printed:
            self._print(site, event)

    def _handle(
        self,
        frames: list[zmq.Frame],
        now: float,
        replies: list[tuple[bytes, bytes]],
        printed: list[tuple[str, dict[str, Any]]],
    ) -> None:
        if len(frames) != 2:
            MALFORMED.inc()
            return
        rid, payload = frames[0].bytes, frames[1]
        key = str(payload.get("User-Id")).encode()
        site = self.allow.site_of(key)
        if site is None:
            REFUSED_MSGS.inc()
            return
        try:
            msg = p.unpack(payload.bytes, p.BOX_KINDS)
        except p.ProtocolError as exc:
            MALFORMED.inc()
            log.warning("receiver_malformed_message", site=site, error=str(exc))
            return
        self.peers[site] = rid
        if msg.kind == p.BATCH:
            replies.append((rid, self._batch(site, msg.body, now, printed)))
        elif msg.kind == p.FILE:
            replies.append((rid, p.pack(p.FILE_ACK, self.files.chunk(site, msg.body))))
        elif msg.kind == p.HELLO:
            self.db.execute(
                "INSERT OR REPLACE INTO sessions(site, last_hello, box_version) VALUES (?,?,?)",
                (site, now, str(msg.body.get("box_version", ""))),
            )
            self.db.execute("UPDATE commands SET sent_at=NULL WHERE site=? AND done_at IS NULL", (site,))
            self._next_commands = 0.0
            replies.append((rid, p.pack(p.WELCOME, {"server_time": now, "site": site})))
        elif msg.kind == p.RESULT:
            cid = msg.body.get("id")
            if isinstance(cid, str):
                self.db.execute(
                    "UPDATE commands SET result=?, done_at=? WHERE id=? AND site=? AND done_at IS NULL",
                    (to_json(msg.body), now, cid, site),
                )

    def _batch(
        self, site: str, body: dict[str, Any], now: float, printed: list[tuple[str, dict[str, Any]]]
    ) -> bytes:
        n = body.get("n")
        try:
            raw = body.get("data")
            if not isinstance(raw, bytes):
                raise p.ProtocolError("batch data is not bytes")
            events = p.decode_events(raw, str(body.get("codec")))
        except p.ProtocolError as exc:
            MALFORMED.inc()
            log.warning("receiver_bad_batch", site=site, error=str(exc))
            return p.pack(p.NACK, {"n": n, "error": str(exc)})
        valid: list[dict[str, Any]] = []
        for e in events:
            try:
                valid.append(validate_event(e))
            except InvalidEvent:
                INVALID.inc()
        show = self.s.print_to is not None or self.on_stored is not None
        new = insert_events(self.db, site, valid, now, which=show)
        STORED.inc(len(new))
        DUPS.inc(len(valid) - len(new))
        if show:
            printed.extend((site, valid[i]) for i in new)
        return p.pack(
            p.ACK,
            {
                "n": n,
                "stored": len(new),
                "duplicates": len(valid) - len(new),
                "invalid": len(events) - len(valid),
            },
        )

    def _reply(self, rid: bytes, frame: bytes) -> None:
        # the peer may be gone (ROUTER_MANDATORY) or slow: it resends what has no answer
        with contextlib.suppress(zmq.ZMQError):
            self.router.send_multipart([rid, frame], zmq.NOBLOCK)

    def _print(self, site: str, event: dict[str, Any]) -> None:
        if self.on_stored is not None:
            self.on_stored(site, [event])
        if self.s.print_to is not None:
            self.s.print_to.write(to_json({"site": site, **event}) + "\n")
            self.s.print_to.flush()

    # -- auth failures and commands ----------------------------------------------------------
    def _auth_failed(self, key: str, address: str, reason: str) -> None:
        AUTH_FAIL.labels(reason).inc()
        self._pending_failures.append((key, address, reason))
        log.warning("receiver_auth_refused", key=key, address=address, reason=reason)

    def _record_failures(self) -> None:
        if not self._pending_failures:
            return
        rows = [(time.time(), *f) for f in self._pending_failures]
        self._pending_failures.clear()
        self.db.executemany("INSERT INTO auth_failures(ts, key, address, reason) VALUES (?,?,?,?)", rows)

    def _send_commands(self) -> None:
        now = time.time()
        if now < self._next_commands or not self.peers:
            return
        self._next_commands = now + 0.2
        rows = self.db.execute(
            "SELECT id, site, name, args FROM commands "
            "WHERE done_at IS NULL AND (sent_at IS NULL OR sent_at < ?) ORDER BY created_at LIMIT 100",
            (now - COMMAND_RESEND_S,),
        ).fetchall()
        for cid, site, name, args in rows:
            rid = self.peers.get(site)
            if rid is None:
                continue
            self._reply(rid, p.pack(p.CMD, {"id": cid, "name": name, "args": json.loads(args)}))
            self.db.execute("UPDATE commands SET sent_at=? WHERE id=?", (now, cid))


def run_receiver(settings: ReceiverSettings, stopping: threading.Event | None = None) -> None:
    stop = stopping or threading.Event()
    receiver = Receiver(settings)
    log.info("receiver_listening", bind=receiver.endpoint)
    print(f"receiver listening on {receiver.endpoint}", file=sys.stderr, flush=True)
    receiver.serve(stop)
