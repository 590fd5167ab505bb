"""ZAP allow-list: an unknown box key is refused and counted on both ends; a revoked key is
refused from its next connection without restarting the receiver (and its old connection's
messages are no longer stored)."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import zmq
from prometheus_client import REGISTRY
from uplink_helpers import ReceiverProc, make_keys, receiver_rows, wait_for

from edged.config import SiteConfig
from edged.events import new_event
from edged.uplink.service import UplinkService


def _site(tmp: Path, server: str, k: Any) -> SiteConfig:
    return SiteConfig.model_validate({
        "site": {"id": "site-a"},
        "runtime": {"run_dir": str(tmp / "run"), "state_dir": str(tmp / "state")},
        "uplink": {"server": server, "server_public_key": k.server.public.decode(),
                   "key_file": str(k.box_file), "backoff_min_s": 0.2, "backoff_max_s": 0.5},
    })  # fmt: skip


def _auth_failures() -> float:
    return REGISTRY.get_sample_value("edged_uplink_auth_failures_total") or 0.0


def _failures(db: Path) -> list[str]:
    return [r[0] for r in receiver_rows(db, "SELECT reason FROM auth_failures ORDER BY ts")]


def test_unknown_key_is_refused_and_counted(tmp_path: Path) -> None:
    k = make_keys(tmp_path, site=None)  # the box's key is not in allowed/
    receiver = ReceiverProc(tmp_path, k.dir).start()
    zctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    before = _auth_failures()
    svc = UplinkService(_site(tmp_path, receiver.endpoint, k), zctx)
    try:
        svc.start()
        svc.ingest([new_event("door_forced", "door-1", {}, priority=0)])
        wait_for(lambda: _auth_failures() >= before + 2, 20, 0.1)  # refused, and again after backoff
        wait_for(lambda: "unknown_key" in _failures(receiver.db), 10, 0.1)
        assert receiver_rows(receiver.db) == []
        assert svc.sender is not None and not svc.sender.link.up
        assert sum(svc.outbox.lanes.count.values()) == 1  # kept for when the key is allowed
    finally:
        svc.stop()
        zctx.term()
        receiver.stop()


def test_revoked_key_refused_from_next_connection(tmp_path: Path) -> None:
    k = make_keys(tmp_path)
    receiver = ReceiverProc(tmp_path, k.dir).start()
    zctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    svc = UplinkService(_site(tmp_path, receiver.endpoint, k), zctx)
    svc2: UplinkService | None = None
    try:
        svc.start()
        first = new_event("access_granted", "door-1", {}, priority=1)
        svc.ingest([first])
        wait_for(lambda: len(receiver_rows(receiver.db)) == 1, 20, 0.05)

        (k.dir / "allowed" / "site-a.key").unlink()  # revoke; the receiver keeps running
        time.sleep(1.2)  # messages re-check the allow-list at most once a second
        late = new_event("access_granted", "door-2", {}, priority=1)
        svc.ingest([late])  # on the old connection: refused, not stored, not acked
        time.sleep(1.5)
        assert [r[1] for r in receiver_rows(receiver.db)] == [first["id"]]
        svc.stop()

        before = _auth_failures()
        svc2 = UplinkService(_site(tmp_path, receiver.endpoint, k), zctx)  # the next connection
        svc2.start()
        wait_for(lambda: _auth_failures() > before, 20, 0.1)
        wait_for(lambda: "revoked" in _failures(receiver.db), 10, 0.1)
        assert [r[1] for r in receiver_rows(receiver.db)] == [first["id"]]
        waiting = svc2.outbox.call(
            lambda c: c.execute("SELECT 1 FROM events WHERE id=?", (uuid.UUID(late["id"]).bytes,))
        )
        assert waiting.fetchone() is not None  # the late event waits in the outbox

        k.allow("site-a")  # re-allowed: delivered on a following attempt, still no restart
        wait_for(lambda: late["id"] in {r[1] for r in receiver_rows(receiver.db)}, 20, 0.1)
    finally:
        if svc2 is not None:
            svc2.stop()
        else:
            svc.stop()
        zctx.term()
        receiver.stop()
