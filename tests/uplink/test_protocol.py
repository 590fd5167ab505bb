"""Wire protocol, receiver robustness (garbage from an authenticated box, decompression bombs),
batch limits and lane order, resumable file chunks, key files, backoff, config checks."""

from __future__ import annotations

import hashlib
import os
import random
import stat
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import zmq
import zstandard
from uplink_helpers import make_keys, receiver_rows, wait_for

from edged.config import ConfigError, SiteConfig, validate_text
from edged.events import new_event
from edged.uplink import keys
from edged.uplink import protocol as p
from edged.uplink.link import full_jitter
from edged.uplink.outbox import Outbox
from edged.uplink.reader import OutboxReader
from edged.uplink.receiver import Receiver, ReceiverSettings
from edged.uplink.receiver_db import connect
from edged.uplink.receiver_files import FileStore


def test_events_roundtrip_and_bomb_refused() -> None:
    events = [new_event("x", "s", {"i": i}) for i in range(600)]
    payload, raw = p.encode_events([p.encode_event(e) for e in events], "zstd")
    assert raw > len(payload)
    assert p.decode_events(payload, "zstd") == events
    bomb = zstandard.ZstdCompressor().compress(b"\x00" * (64 << 20))  # 64 MiB of zeros, ~2 KB
    with pytest.raises(p.ProtocolError, match="too large"):
        p.decode_events(bomb, "zstd")
    for junk in (b"", b"\xff" * 10, zstandard.ZstdCompressor().compress(b"\xc1")):
        with pytest.raises(p.ProtocolError):
            p.decode_events(junk, "zstd")
    with pytest.raises(p.ProtocolError):
        p.unpack(p.pack("batch", {}), p.SERVER_KINDS)  # a box kind where a server kind belongs
    with pytest.raises(p.ProtocolError):
        p.unpack(b"\x93\x01\x02\x03", p.BOX_KINDS)


def test_fetch_respects_limits_and_puts_p0_first(tmp_path: Path) -> None:
    ob = Outbox(tmp_path / "o.db")
    ob.append([new_event("t", "s", {"pad": "x" * 300}, priority=2) for _ in range(400)])
    ob.append([new_event("a", "s", {}, priority=1) for _ in range(50)])
    late_p0 = [new_event("alarm", "s", {}, priority=0) for _ in range(20)]
    ob.append(late_p0)
    reader = OutboxReader(ob.path)
    cursors = {0: 0, 1: 0, 2: 0}
    rows, more = reader.fetch(cursors, 500, 64 << 10)
    assert more and [r.priority for r in rows[:70]] == [0] * 20 + [1] * 50
    assert sum(len(r.body) + 8 for r in rows) <= 64 << 10
    rest, _ = reader.fetch(cursors, 500, 64 << 10)
    assert {r.seq for r in rows}.isdisjoint(r.seq for r in rest)
    small, _ = reader.fetch({0: 0, 1: 0, 2: 0}, 7, 1 << 20)
    assert len(small) == 7
    reader.close()
    ob.close()


@pytest.fixture
def live_receiver(tmp_path: Path) -> Iterator[tuple[Receiver, keys.KeyPair, keys.KeyPair]]:
    k = make_keys(tmp_path)
    rcv = Receiver(ReceiverSettings("tcp://127.0.0.1:*", k.dir, tmp_path / "r.db"))
    stop = threading.Event()
    t = threading.Thread(target=rcv.serve, args=(stop,))
    t.start()
    yield rcv, k.server, k.box
    stop.set()
    t.join()


def _dealer(
    zctx: zmq.Context[zmq.Socket[bytes]], rcv: Receiver, server: keys.KeyPair, box: keys.KeyPair
) -> zmq.Socket[bytes]:
    s = zctx.socket(zmq.DEALER)
    s.curve_secretkey, s.curve_publickey, s.curve_serverkey = box.secret, box.public, server.public
    s.setsockopt(zmq.LINGER, 0)
    s.setsockopt(zmq.RCVTIMEO, 5000)
    s.connect(rcv.endpoint)
    return s


def test_receiver_survives_garbage_and_ignores_payload_site(live_receiver, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    rcv, server, box = live_receiver
    zctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    s = _dealer(zctx, rcv, server, box)
    try:
        for junk in (b"", b"\x00garbage", p.pack("ack", {"n": 1}), p.pack("batch", {"n": 1, "data": 5})):
            s.send(junk)
        bad_zstd = p.pack("batch", {"n": 2, "codec": "zstd", "data": b"not zstd"})
        s.send(bad_zstd)
        reply = p.unpack(s.recv(), p.SERVER_KINDS)
        while reply.kind != p.NACK:  # the `data: 5` batch is nacked first
            reply = p.unpack(s.recv(), p.SERVER_KINDS)
        events = [new_event("x", "s", {"site": "evil"}) for _ in range(3)]
        events.append({"id": "not-an-event"})
        payload, raw = p.encode_events([p.encode_event(e) for e in events], "zstd")
        s.send(p.pack("batch", {"n": 3, "codec": "zstd", "count": 4, "raw": raw, "data": payload}))
        ack = p.unpack(s.recv(), p.SERVER_KINDS)
        while ack.kind != p.ACK:
            ack = p.unpack(s.recv(), p.SERVER_KINDS)
        assert ack.body == {"n": 3, "stored": 3, "duplicates": 0, "invalid": 1}
        s.send(p.pack("batch", {"n": 4, "codec": "zstd", "count": 4, "raw": raw, "data": payload}))
        again = p.unpack(s.recv(), p.SERVER_KINDS)
        assert again.body["stored"] == 0 and again.body["duplicates"] == 3
        wait_for(lambda: len(receiver_rows(tmp_path / "r.db")) == 3, 5)
        assert {r[0] for r in receiver_rows(tmp_path / "r.db")} == {"site-a"}
    finally:
        s.close()
        zctx.term()


def test_file_chunks_resume_at_held_offset(tmp_path: Path) -> None:
    db = connect(tmp_path / "r.db")
    store = FileStore(db, tmp_path / "files")
    blob = os.urandom(10_000)
    eid = str(uuid.uuid4())
    digest = hashlib.sha256(blob).hexdigest()

    def chunk(offset: int, n: int) -> dict[str, object]:
        body: dict[str, object] = {"event_id": eid, "name": "clip", "filename": "../../x.mp4"}
        body.update(size=len(blob), offset=offset, data=blob[offset : offset + n])
        if offset + n >= len(blob):
            body["sha256"] = digest
        return body

    assert store.chunk("s", chunk(0, 4000))["next"] == 4000
    assert store.chunk("s", chunk(0, 4000))["next"] == 4000  # a repeat: nothing written twice
    assert store.chunk("s", chunk(8000, 2000))["next"] == 4000  # a gap: resume where we are
    assert store.chunk("s", chunk(4000, 6000))["next"] == 10_000
    (path,) = db.execute("SELECT path FROM files WHERE done=1").fetchone()
    assert Path(path).read_bytes() == blob and Path(path).is_relative_to(tmp_path / "files")
    db.close()


def test_keys_are_private_and_never_overwritten(tmp_path: Path) -> None:
    pub, sec, pair = keys.generate(tmp_path / "k", "box")
    for f in (pub, sec):
        assert stat.S_IMODE(f.stat().st_mode) == 0o600
    assert keys.load_pair(sec) == pair
    with pytest.raises(FileExistsError):
        keys.generate(tmp_path / "k", "box")
    with pytest.raises(ValueError):
        keys.generate(tmp_path / "k", "../evil")


def test_keys_generate_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from edged.cli import main

    assert main(["keys", "generate", "--dir", str(tmp_path / "k"), "--name", "site-a"]) == 0
    out = capsys.readouterr().out
    public = keys.load_public(tmp_path / "k" / "site-a.key")
    assert f"public key: {public.decode()}" in out
    assert stat.S_IMODE((tmp_path / "k" / "site-a.key_secret").stat().st_mode) == 0o600
    assert main(["keys", "generate", "--dir", str(tmp_path / "k"), "--name", "site-a"]) == 1  # kept


def test_full_jitter_bounds() -> None:
    rng = random.Random(3)
    waits = [full_jitter(a, 1.0, 10.0, rng) for a in range(1, 12) for _ in range(50)]
    assert min(waits) >= 1.0 and max(waits) <= 10.0
    assert len({round(w, 3) for w in waits}) > 400  # jittered, not in step


def test_uplink_config_requires_pinned_key() -> None:
    with pytest.raises(ConfigError) as err:
        validate_text("site: {id: a}\nuplink: {server: 'tcp://h:7700'}\n", SiteConfig)
    assert any("server_public_key is required" in line for line in err.value.lines)
    with pytest.raises(ConfigError) as err:
        validate_text("site: {id: a}\nuplink: {batch_max_events: 501, window: 0}\n", SiteConfig)
    assert {line.split(":")[0] for line in err.value.lines} == {"uplink.batch_max_events", "uplink.window"}


def test_file_shipper_resumes_from_the_acked_offset_after_restart(tmp_path: Path) -> None:
    from edged.uplink.files import FileShipper

    clip = tmp_path / "clip.mp4"
    clip.write_bytes(os.urandom(200_000))
    os.utime(clip, (1e9, 1e9))  # finished long ago
    ob = Outbox(tmp_path / "o.db")
    event = new_event(
        "falling_object", "facade-1", {"clip": str(clip), "snapshot": str(tmp_path / "gone.jpg")}, 0
    )
    ob.append([event])
    eid = uuid.UUID(event["id"]).bytes
    reader = OutboxReader(ob.path)
    assert FileShipper(ob, reader, 65536).next_chunk(0.0) is None  # the event is not acked yet: no file
    ob.call(lambda c: c.execute("DELETE FROM events"))  # the server acked the event
    ob.call(lambda c: c.execute("UPDATE files SET sent=65536 WHERE name='clip'"))  # before a restart
    shipper = FileShipper(ob, reader, 65536, missing_after_s=0.0)
    chunk = shipper.next_chunk(0.0)
    assert chunk is not None and chunk["name"] == "clip" and chunk["offset"] == 65536
    assert chunk["data"] == clip.read_bytes()[65536:131072] and "sha256" not in chunk
    shipper.on_ack({"event_id": event["id"], "name": "clip", "next": 131072})
    sent = ob.call(
        lambda c: c.execute("SELECT sent FROM files WHERE event_id=? AND name='clip'", (eid,)).fetchone()
    )
    assert sent == (131072,)
    chunks = []
    while (nxt := shipper.next_chunk(5.0)) is not None:
        chunks.append(nxt)
        shipper.on_ack({"event_id": event["id"], "name": "clip", "next": nxt["offset"] + len(nxt["data"])})
    assert [c["offset"] for c in chunks] == [131072, 196608]
    assert chunks[-1]["sha256"] == hashlib.sha256(clip.read_bytes()).hexdigest()
    names = ob.call(lambda c: c.execute("SELECT name FROM files").fetchall())
    assert names == []  # delivered, and the missing snapshot was dropped (and counted)
    reader.close()
    ob.close()
