"""Downlink over the same CurveZMQ connection, end to end: `edged receiver` queues commands,
the real uplink worker runs them and every command gets a result.

The doors worker and the supervisor are stood in by the bus's real `CommandServer` bound on
their real endpoints (their own tests cover them; here we check what the uplink sends them).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
import zmq
from uplink_helpers import Box, ReceiverProc, make_keys, receiver_rows, wait_for

from edged.access.credentials import CredentialStore
from edged.bus.commands import CommandServer
from edged.events import new_event

DOORS = {
    "buses": [{"id": "bus-1", "port": "/dev/null"}],
    "doors": [{"id": "d-101", "building": "B3", "unit": "101", "reader": {"bus": "bus-1", "address": 1}}],
}


class StandIn:
    """A CommandServer on a worker's endpoint that records what it was asked."""

    def __init__(self, zctx: zmq.Context[zmq.Socket[bytes]], endpoint: str, names: list[str]) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        handlers = {n: (lambda args, n=n: self._record(n, args)) for n in names}
        self.server = CommandServer(zctx, endpoint, handlers, name="stand-in")
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _record(self, name: str, args: dict[str, Any]) -> dict[str, Any]:
        self.calls.append((name, args))
        return {"done": name}

    def _loop(self) -> None:
        while not self.stop.is_set():
            self.server.poll(50)
        self.server.close()


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[tuple[Box, ReceiverProc, StandIn, StandIn]]:
    k = make_keys(tmp_path)
    receiver = ReceiverProc(tmp_path, k.dir).start()
    box = Box(tmp_path, "site-a", receiver.endpoint, k)
    box.site["doors"] = DOORS
    box.config.write_text(yaml.safe_dump(box.site))
    doors = StandIn(box.zctx, box.endpoints.commands("doors:bus-1"), ["open_door", "set_mode", "lockdown"])
    supervisor = StandIn(box.zctx, box.endpoints.control, ["reload"])
    box.start()
    try:
        yield box, receiver, doors, supervisor
    finally:
        doors.stop.set()
        supervisor.stop.set()
        doors.thread.join()
        supervisor.thread.join()
        box.close()
        receiver.stop()


def test_config_push_rejected_with_errors_then_applied(
    rig: tuple[Box, ReceiverProc, StandIn, StandIn],
) -> None:
    box, receiver, _, supervisor = rig
    original = box.config.read_bytes()
    bad = dict(box.site, uplink={**box.site["uplink"], "window": 0, "bogus": 1})
    result = receiver.command("site-a", "config.push", {"text": yaml.safe_dump(bad)})
    assert result["ok"] is False and result["error"] == "config rejected"
    assert any(line.startswith("uplink.window: ") for line in result["errors"]), result
    assert any(line.startswith("uplink.bogus: unknown key") for line in result["errors"]), result
    other_site = dict(box.site, site={"id": "site-b"})
    result = receiver.command("site-a", "config.push", {"text": yaml.safe_dump(other_site)})
    assert result["ok"] is False and result["errors"] == ["site.id: is site-b, this box is site-a"]
    assert box.config.read_bytes() == original  # nothing changed
    assert supervisor.calls == []

    good_text = yaml.safe_dump(dict(box.site, logging={"level": "debug", "format": "json"}))
    result = receiver.command("site-a", "config.push", {"text": good_text})
    assert result["ok"] is True, result
    assert box.config.read_text() == good_text
    assert box.config.with_name("site.yaml.prev").read_bytes() == original
    wait_for(lambda: supervisor.calls == [("reload", {})], 10)


def test_credentials_sync_full_delta_and_gap(rig: tuple[Box, ReceiverProc, StandIn, StandIn]) -> None:
    box, receiver, _, _ = rig
    rows = [{"kind": "card", "value": "1001", "door_group": "B3"}, {"kind": "card", "value": "1002"}]
    result = receiver.command("site-a", "credentials.sync", {"mode": "full", "version": 1, "rows": rows})
    assert result["ok"] and result["result"]["version"] == 1 and result["result"]["count"] == 2
    delta = {"mode": "delta", "version": 2, "base_version": 1,
             "rows": [{"kind": "card", "value": "1002", "door_group": "*", "deleted": True}]}  # fmt: skip
    result = receiver.command("site-a", "credentials.sync", delta)
    assert result["ok"] and result["result"]["count"] == 1
    gap = {"mode": "delta", "version": 4, "base_version": 3, "rows": []}
    result = receiver.command("site-a", "credentials.sync", gap)
    assert result["ok"] is False and result["error"].startswith("version_gap")
    bad = {"mode": "full", "version": 5, "rows": [{"kind": "iris", "value": "x"}]}
    result = receiver.command("site-a", "credentials.sync", bad)
    assert result["ok"] is False
    store = CredentialStore(box.state / "credentials.sqlite")
    assert store.version == 2 and [c.value for c in store.all()] == ["1001"]
    store.close()


def test_door_commands_and_repeats_answered_once(rig: tuple[Box, ReceiverProc, StandIn, StandIn]) -> None:
    _box, receiver, doors, _ = rig
    result = receiver.command("site-a", "door.open", {"door": "d-101", "seconds": 5})
    assert result["ok"] and result["result"] == {"done": "open_door"}
    assert doors.calls == [("open_door", {"door": "d-101", "by": "server", "seconds": 5})]
    assert receiver.command("site-a", "door.open", {"door": "nope"})["ok"] is False
    result = receiver.command("site-a", "lockdown", {"building": "B3", "active": True})
    assert result["ok"] and doors.calls[-1] == ("lockdown", {"building": "B3", "active": True})
    assert receiver.command("site-a", "self.destruct", {})["error"] == "unknown command 'self.destruct'"

    # the server lost the answer and asks again: the box answers from its record, the door
    # is not opened twice
    conn = sqlite3.connect(receiver.db, isolation_level=None)
    cid = conn.execute(
        "SELECT id FROM commands WHERE name='door.open' ORDER BY created_at LIMIT 1"
    ).fetchone()[0]
    conn.execute("UPDATE commands SET result=NULL, done_at=NULL, sent_at=NULL WHERE id=?", (cid,))
    conn.close()
    wait_for(lambda: receiver_rows(receiver.db, f"SELECT done_at FROM commands WHERE id='{cid}'")[0][0], 20)
    assert [c for c in doors.calls if c[0] == "open_door"] == [doors.calls[0]]


def test_corrupt_outbox_at_start_alarm_then_events_and_files(tmp_path: Path) -> None:
    k = make_keys(tmp_path)
    receiver = ReceiverProc(tmp_path, k.dir).start()
    box = Box(tmp_path, "site-a", receiver.endpoint, k)
    box.outbox.parent.mkdir(parents=True)
    box.outbox.write_bytes(b"SQLite format 3\x00" + b"\xde\xad" * 3000)  # not a database any more
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(bytes(range(256)) * 1500)  # 384 KB: six chunks
    box.start()
    try:
        wait_for(lambda: any(r[3] == "outbox_corrupt" for r in receiver_rows(receiver.db)), 30, 0.1)
        assert [r[2] for r in receiver_rows(receiver.db) if r[3] == "outbox_corrupt"] == [0]
        assert list(box.outbox.parent.glob("outbox.db.corrupt-*")), "kept for forensics"
        event = new_event("falling_object", "facade-1", {"floor": 7, "clip": str(clip)}, priority=0)
        box.producer.send(event)
        wait_for(lambda: receiver_rows(receiver.db, "SELECT path FROM files WHERE done=1"), 30, 0.1)
        (stored,) = receiver_rows(receiver.db, "SELECT path, event_id FROM files WHERE done=1")
        assert stored[1] == event["id"]
        assert Path(stored[0]).read_bytes() == clip.read_bytes()
        assert box.alive()
    finally:
        box.close()
        receiver.stop()


def test_config_push_on_the_real_daemon_reloads_it(tmp_path: Path) -> None:
    """`edged run` (supervisor, fork server, rules, uplink): a bad push changes nothing; a good
    one is written and the supervisor restarts the workers on it."""
    from support.daemon import Daemon

    k = make_keys(tmp_path, site="test-site")
    receiver = ReceiverProc(tmp_path, k.dir).start()
    up = {
        "server": receiver.endpoint,
        "server_public_key": k.server.public.decode(),
        "key_file": str(k.box_file),
    }
    try:
        (tmp_path / "box").mkdir()
        with Daemon(tmp_path / "box", {"uplink": up}) as daemon:
            first = daemon.wait_running("uplink", 60)
            original = daemon.config_path.read_bytes()
            bad = dict(daemon.site, uplink={**up, "window": 0})
            result = receiver.command("test-site", "config.push", {"text": yaml.safe_dump(bad)}, 40)
            assert result["ok"] is False and result["errors"][0].startswith("uplink.window: ")
            assert daemon.config_path.read_bytes() == original
            good = yaml.safe_dump(dict(daemon.site, logging={"level": "debug", "format": "json"}))
            result = receiver.command("test-site", "config.push", {"text": good}, 40)
            assert result["ok"] is True and result["result"]["written"] == str(daemon.config_path.resolve())
            assert daemon.config_path.read_text() == good
            daemon.wait_running("uplink", 60, not_pid=first["pid"])  # reloaded: a new uplink process
    finally:
        receiver.stop()
