"""The bus with real sockets and processes: exactly-once delivery across kill -9, malformed input."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import msgpack
import pytest
import zmq
from prometheus_client import REGISTRY

from edged.bus.commands import CommandClient, CommandServer, CommandTimeout
from edged.bus.endpoints import Endpoints
from edged.bus.envelope import MalformedMessage, pack, unpack
from edged.bus.reliable import EventReceiver, EventSender
from edged.bus.telemetry import TelemetrySubscriber
from edged.events import new_event

HERE = Path(__file__).parent


@pytest.fixture
def endpoints(tmp_path_factory: pytest.TempPathFactory) -> Endpoints:
    ep = Endpoints(Path(f"/tmp/edb-{os.getpid()}-{time.monotonic_ns() % 10**6}"))
    ep.prepare()
    return ep


@pytest.fixture
def zctx() -> zmq.Context[zmq.Socket[bytes]]:
    ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    yield ctx
    ctx.term()


def malformed(socket: str) -> float:
    return REGISTRY.get_sample_value("edged_bus_malformed_messages_total", {"socket": socket}) or 0.0


def _start_receiver(endpoint: str, db: Path, incarnation: int) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "receiver_proc.py"), endpoint, str(db), str(incarnation)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


def test_every_event_arrives_exactly_once_across_receiver_kill_9(
    endpoints: Endpoints, zctx, tmp_path: Path
) -> None:
    endpoint = endpoints.events("test")
    db = tmp_path / "received.db"
    sender = EventSender(zctx, endpoint, "test", "producer", resend_after_s=0.5)
    receiver = _start_receiver(endpoint, db, 1)
    total, kills = 3000, 0
    try:
        for seq in range(total):
            sender.send(new_event("test", "producer", {"seq": seq}))
            if seq in (800, 1900):  # kill the receiver mid-flow, bring it back after a while
                receiver.send_signal(signal.SIGKILL)
                receiver.wait()
                kills += 1
                time.sleep(0.3)
                receiver = _start_receiver(endpoint, db, kills + 1)
            if seq % 50 == 0:
                time.sleep(0.01)
        assert sender.flush(30), f"{sender.pending} events still unacked"
    finally:
        receiver.send_signal(signal.SIGTERM)
        receiver.wait(timeout=10)
        sender.close()
    con = sqlite3.connect(db)
    seqs = [row[0] for row in con.execute("SELECT seq FROM events ORDER BY seq")]
    assert seqs == list(range(total))
    # Within one receiver's life the dedupe keeps resends from reaching the handler twice.
    for incarnation, n, distinct in con.execute(
        "SELECT incarnation, COUNT(*), COUNT(DISTINCT id) FROM deliveries GROUP BY incarnation"
    ):
        assert n == distinct, f"incarnation {incarnation} handled duplicates"
    assert kills == 2


def test_events_sent_before_the_receiver_exists_are_delivered(endpoints: Endpoints, zctx) -> None:
    got: list[dict] = []
    sender = EventSender(zctx, endpoints.events("late"), "late", "producer", resend_after_s=0.3)
    for i in range(10):
        sender.send(new_event("test", "producer", {"i": i}))
    time.sleep(0.5)
    receiver = EventReceiver(zctx, endpoints.events("late"), "late", got.extend)
    deadline = time.monotonic() + 10
    while len(got) < 10 and time.monotonic() < deadline:
        receiver.poll(50)
    assert sorted(e["data"]["i"] for e in got) == list(range(10))
    assert sender.flush(5)
    sender.close()
    receiver.close()


def test_handler_failure_means_no_ack_and_a_resend(endpoints: Endpoints, zctx) -> None:
    calls: list[int] = []

    def flaky(events: list[dict]) -> None:
        calls.append(len(events))
        if len(calls) == 1:
            raise OSError("disk full")

    sender = EventSender(zctx, endpoints.events("flaky"), "flaky", "producer", resend_after_s=0.2)
    receiver = EventReceiver(zctx, endpoints.events("flaky"), "flaky", flaky)
    sender.send(new_event("test", "producer"))
    deadline = time.monotonic() + 10
    while len(calls) < 2 and time.monotonic() < deadline:
        receiver.poll(50)
    assert calls == [1, 1]
    assert sender.flush(5)
    sender.close()
    receiver.close()


GARBAGE = [
    b"",
    b"\x00\xff\xfe",
    msgpack.packb([1, 2, 3]),
    msgpack.packb({"v": 99, "k": "events", "b": {}}),
    pack("events", {"events": "not a list"}),
    pack("events", {"events": [{"id": "x"}]}),
    pack("cmd", {"nothing": 1}),
    b"\xc1" * 100,
]


def test_garbage_on_event_receiver_is_counted_and_it_keeps_working(endpoints: Endpoints, zctx) -> None:
    got: list[dict] = []
    receiver = EventReceiver(zctx, endpoints.events("g"), "g", got.extend)
    before = malformed("events-g")
    raw = zctx.socket(zmq.DEALER)
    raw.connect(endpoints.events("g"))
    for junk in GARBAGE:
        raw.send(junk)
    raw.send_multipart([b"a", b"b", b"c"])
    sender = EventSender(zctx, endpoints.events("g"), "g", "producer", resend_after_s=0.2)
    sender.send(new_event("ok", "producer"))
    deadline = time.monotonic() + 5
    while not got and time.monotonic() < deadline:
        receiver.poll(50)
    assert [e["type"] for e in got] == ["ok"]
    assert malformed("events-g") - before >= len(GARBAGE)
    raw.close(0)
    sender.close()
    receiver.close()


def test_garbage_acks_and_results_are_counted(endpoints: Endpoints, zctx) -> None:
    # A fake server that answers every message with junk: the client side must count and survive.
    server = zctx.socket(zmq.ROUTER)
    server.bind(endpoints.commands("junk"))
    client = CommandClient(zctx, endpoints.commands("junk"))
    before = malformed(f"cmd-client:{endpoints.commands('junk').rsplit('/', 1)[-1]}")

    def answer_with_junk() -> None:
        if server.poll(3000):
            peer, _ = server.recv_multipart()
            for junk in GARBAGE:
                server.send_multipart([peer, junk])

    t = threading.Thread(target=answer_with_junk)
    t.start()
    with pytest.raises(CommandTimeout):
        client.call("status", timeout_s=1.0)
    t.join()
    assert (
        malformed(f"cmd-client:{endpoints.commands('junk').rsplit('/', 1)[-1]}") - before >= len(GARBAGE) - 1
    )
    client.close()
    server.close(0)


def test_command_server_survives_garbage_and_answers_every_command(endpoints: Endpoints, zctx) -> None:
    server = CommandServer(
        zctx, endpoints.commands("srv"), {"add": lambda a: a["x"] + a["y"], "boom": lambda a: 1 / 0}, "srv"
    )
    raw = zctx.socket(zmq.DEALER)
    raw.connect(endpoints.commands("srv"))
    for junk in GARBAGE:
        raw.send(junk)
    client = CommandClient(zctx, endpoints.commands("srv"))
    stop = threading.Event()
    t = threading.Thread(target=lambda: [server.poll(20) for _ in iter(stop.is_set, True)])
    t.start()
    try:
        assert client.call("add", {"x": 2, "y": 3}) == 5
        with pytest.raises(Exception, match="ZeroDivisionError"):
            client.call("boom")
        with pytest.raises(Exception, match="unknown command"):
            client.call("nope")
    finally:
        stop.set()
        t.join()
    assert malformed("srv") >= len(GARBAGE) - 1
    client.close()
    server.close()
    raw.close(0)


def test_subscriber_counts_garbage(endpoints: Endpoints, zctx) -> None:
    pub = zctx.socket(zmq.PUB)
    pub.bind(endpoints.telemetry_out)
    sub = TelemetrySubscriber(zctx, endpoints.telemetry_out, [""])
    time.sleep(0.3)  # slow joiner
    before = malformed("telemetry-sub")
    pub.send_multipart([b"event", b"\xff\x00"])
    pub.send_multipart([b"event", pack("telemetry", {"ok": 1})])
    first = sub.recv(2000)
    second = sub.recv(2000)
    assert first is None and second == ("event", {"ok": 1})
    assert malformed("telemetry-sub") - before == 1
    sub.close()
    pub.close(0)


def test_envelope_rejects_other_versions_and_kinds() -> None:
    assert unpack(pack("ack", {"ids": []}), ("ack",)).body == {"ids": []}
    with pytest.raises(MalformedMessage):
        unpack(pack("ack", {}), ("events",))
    with pytest.raises(MalformedMessage):
        unpack(msgpack.packb({"v": 2, "k": "ack", "b": {}}))


def test_a_full_backlog_drops_are_counted_not_silent(endpoints: Endpoints, zctx) -> None:
    labels = {"worker": "producer", "sink": "nobody", "reason": "backlog_full"}
    before = REGISTRY.get_sample_value("edged_bus_events_dropped_total", labels) or 0.0
    sender = EventSender(zctx, endpoints.events("nobody"), "nobody", "producer", max_unacked=5)
    for i in range(20):
        sender.send(new_event("test", "producer", {"i": i}))
    deadline = time.monotonic() + 5
    while sender.pending > 5 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert sender.pending == 5
    assert (REGISTRY.get_sample_value("edged_bus_events_dropped_total", labels) or 0.0) - before == 15
    sender.close()
