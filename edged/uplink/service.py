"""The uplink as one object: outbox + summaries + sender thread + downlink thread.

The uplink worker wraps it around the bus; tests and `edged bench uplink` drive it directly.
`ingest(events)` returns only after the events are committed to the outbox.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import structlog
import zmq
from zmq.utils import z85

from edged.config import SiteConfig
from edged.config.uplink import UplinkConfig
from edged.events import Event, Priority, new_event
from edged.uplink import metrics as m
from edged.uplink.actions import Actions, DoorCall
from edged.uplink.downlink import Downlink
from edged.uplink.keys import load_pair
from edged.uplink.link import LinkSettings
from edged.uplink.outbox import Outbox
from edged.uplink.reader import OutboxReader
from edged.uplink.sender import AckListener, BatchSettings, Sender
from edged.uplink.summaries import Summaries

log = structlog.get_logger()
SWEEP_EVERY_S = 5.0
KEY_RETRY_S = 30.0


def outbox_path(cfg: SiteConfig) -> Path:
    return cfg.uplink.outbox_path or cfg.runtime.state_dir / "uplink" / "outbox.db"


def key_path(cfg: SiteConfig) -> Path:
    return cfg.uplink.key_file or cfg.runtime.state_dir / "uplink" / "box.key_secret"


def link_settings(u: UplinkConfig, key_file: Path) -> LinkSettings:
    assert u.server is not None and u.server_public_key is not None
    return LinkSettings(
        server=u.server,
        server_public_key=u.server_public_key.encode(),
        keys=load_pair(key_file),
        heartbeat_ivl_s=u.heartbeat_ivl_s,
        heartbeat_timeout_s=u.heartbeat_timeout_s,
        handshake_timeout_s=u.handshake_timeout_s,
        backoff_min_s=u.backoff_min_s,
        backoff_max_s=u.backoff_max_s,
    )


def batch_settings(u: UplinkConfig) -> BatchSettings:
    return BatchSettings(
        max_events=u.batch_max_events,
        max_bytes=u.batch_max_bytes,
        window=u.window,
        codec=u.compression,
        ack_timeout_s=u.ack_timeout_s,
        file_chunk_bytes=u.file_chunk_bytes,
    )


class UplinkService:
    def __init__(
        self,
        cfg: SiteConfig,
        zctx: zmq.Context[zmq.Socket[bytes]],
        *,
        config_path: Path | None = None,
        door_call: DoorCall | None = None,
        reload: Callable[[], Any] | None = None,
        on_acked: AckListener | None = None,
    ) -> None:
        u = cfg.uplink
        self.cfg, self.zctx, self.on_acked = cfg, zctx, on_acked
        self.outbox = Outbox(
            outbox_path(cfg),
            max_bytes=u.outbox_max_bytes,
            ttl_s={1: u.ttl_p1_s, 2: u.ttl_p2_s},
            max_event_bytes=u.max_event_bytes,
            commit_max_events=u.commit_max_events,
        )
        self.summaries = Summaries(cfg, u.summary_interval_s)
        self.actions = Actions(cfg, config_path, door_call or _no_doors, reload, u.door_command_timeout_s)
        self.downlink = Downlink(self.outbox, self.actions)
        self.sender: Sender | None = None
        self._sender_thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._next_sweep = 0.0
        self._next_key_try = 0.0
        self.corrupt_alarm: Event | None = None
        self._reader: OutboxReader | None = None
        self._next_stats = 0.0
        if self.outbox.report.corrupt_moved_to is not None:
            self.corrupt_alarm = self._raise_corrupt_alarm()

    def _raise_corrupt_alarm(self) -> Event:
        report = self.outbox.report
        alarm = new_event("outbox_corrupt", "uplink", {
            "path": str(report.path), "moved_to": str(report.corrupt_moved_to), "problem": report.problem,
        }, Priority.CRITICAL)  # fmt: skip
        self.outbox.append([alarm])
        log.error("outbox_corrupt_alarm", event_id=alarm["id"], moved_to=str(report.corrupt_moved_to))
        return alarm

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> None:
        self.downlink.start()
        self._try_start_sender(time.monotonic())

    def _try_start_sender(self, now: float) -> None:
        u = self.cfg.uplink
        if self.sender is not None or not u.server or now < self._next_key_try:
            return
        path = key_path(self.cfg)
        try:
            settings = link_settings(u, path)
            z85.decode(settings.server_public_key)
        except (OSError, ValueError) as exc:
            self._next_key_try = now + KEY_RETRY_S
            log.error("uplink_no_box_key", path=str(path), error=str(exc), hint="run `edged keys generate`")
            return
        self.sender = Sender(
            self.zctx,
            self.outbox,
            settings,
            batch_settings(u),
            on_command=self.downlink.submit,
            on_acked=self.on_acked,
        )
        self._sender_thread = threading.Thread(
            target=self.sender.run, args=(self._stop,), name="uplink-sender"
        )
        self._sender_thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._sender_thread is not None:
            self._sender_thread.join(timeout=10)
        self.downlink.stop()
        if self._reader is not None:
            self._reader.close()
        for event in self.summaries.flush():
            self._append_quietly([event])
        self.outbox.close()

    # -- work ------------------------------------------------------------------------------------
    def ingest(self, events: list[Event]) -> None:
        """Store events durably (returns after the commit); raises OutboxWriteError otherwise."""
        self.outbox.append(events)
        self.summaries.observe(events)

    def tick(self) -> None:
        """Call often from the worker's loop: summaries, TTL sweep, key retry, lane metrics."""
        now, mono = time.time(), time.monotonic()
        if self.summaries.due(now):
            for event in self.summaries.flush(now):
                self._append_quietly([event])
                m.SUMMARIES.inc()
        if mono >= self._next_sweep:  # one chunk per lane each time: a backlog expires over a few turns
            self._next_sweep = mono + SWEEP_EVERY_S
            try:
                self.outbox.sweep_async()
            except Exception as exc:
                log.error("outbox_sweep_failed", error=str(exc))
        self._try_start_sender(mono)
        if self.sender is None and mono >= self._next_stats:  # the sender publishes these itself
            self._next_stats = mono + 1.0
            self._reader = self._reader or OutboxReader(self.outbox.path)
            self.outbox.lanes.publish()
            self._reader.publish_ages()

    def _append_quietly(self, events: list[Event]) -> None:
        try:
            self.outbox.append(events)
        except Exception as exc:  # counted by the outbox; a lost summary is not worth a crash
            log.warning("summary_not_stored", error=str(exc))

    def progress(self) -> dict[str, Any]:
        return {
            "outbox_events": sum(self.outbox.lanes.count.values()),
            "connected": bool(self.sender is not None and self.sender.link.up),
        }


def _no_doors(worker: str, command: str, args: dict[str, Any], timeout: float) -> Any:
    raise RuntimeError("no door command channel in this process")
