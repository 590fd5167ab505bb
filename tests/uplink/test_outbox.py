"""The outbox on real SQLite files: durability contract, dedupe, cap and eviction order, TTLs,
a full disk (a real small tmpfs when this runs as root) and a corrupt file at start."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from edged.events import new_event
from edged.uplink.outbox import Outbox, OutboxWriteError


def _sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def _events(n: int, prio: int, size: int = 200, type_: str = "telemetry") -> list[dict]:
    return [new_event(type_, "cam-1", {"pad": "x" * size, "i": i}, priority=prio) for i in range(n)]


def test_append_returns_after_commit_and_survives_reopen(tmp_path: Path) -> None:
    ob = Outbox(tmp_path / "o.db")
    events = _events(1200, 1)
    result = ob.append(events)
    assert (result.accepted, result.duplicates) == (1200, 0)
    # another connection sees every row as soon as append returned: it was committed
    conn = sqlite3.connect(tmp_path / "o.db")
    assert conn.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 1200
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()
    again = ob.append(events[:10])  # a producer resending after a crash
    assert (again.accepted, again.duplicates) == (0, 10)
    ob.close()
    ob2 = Outbox(tmp_path / "o.db")
    assert ob2.lanes.count == {0: 0, 1: 1200, 2: 0}
    ob2.close()


def test_group_commits_are_at_most_500_events(tmp_path: Path) -> None:
    ob = Outbox(tmp_path / "o.db")
    sizes: list[int] = []
    original = ob._insert

    def spy(conn: sqlite3.Connection, item: object) -> None:
        sizes.append(len(item.rows))  # type: ignore[attr-defined]
        original(conn, item)  # type: ignore[arg-type]

    ob._insert = spy  # type: ignore[method-assign]
    threads = [threading.Thread(target=ob.append, args=(_events(700, 2),)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    commits = ob.commits
    ob.close()
    assert sum(sizes) == 2800
    assert commits >= 2800 // 500
    assert max(sizes) <= 500


def test_refuses_invalid_and_oversized_events(tmp_path: Path) -> None:
    ob = Outbox(tmp_path / "o.db", max_event_bytes=2048)
    before = _sample("edged_uplink_events_refused_total", reason="invalid")
    good = _events(1, 1)
    result = ob.append([*good, {"id": "nope"}, _events(1, 1, size=5000)[0]])
    ob.close()
    assert (result.accepted, result.refused) == (1, 2)
    assert _sample("edged_uplink_events_refused_total", reason="invalid") == before + 1


def test_cap_evicts_p2_first_then_p1_and_keeps_p0(tmp_path: Path) -> None:
    cap = 1 << 20
    ob = Outbox(tmp_path / "o.db", max_bytes=cap)
    p2_before = _sample("edged_uplink_evictions_total", priority="2", reason="cap")
    p0 = _events(300, 0, type_="door_forced")
    ob.append(p0)
    ob.append(_events(1500, 2))  # ~450 KiB
    ob.append(_events(1500, 1))  # ~450 KiB: now near the cap
    ob.append(_events(1500, 1))  # over: telemetry goes first
    assert ob.lanes.total_bytes() <= cap
    assert ob.lanes.count[0] == 300
    assert ob.lanes.count[2] == 0
    evicted_p2 = _sample("edged_uplink_evictions_total", priority="2", reason="cap") - p2_before
    assert evicted_p2 == 1500
    p1_before = _sample("edged_uplink_evictions_total", priority="1", reason="cap")
    newest = _events(1500, 1)
    ob.append(newest)  # P2 is gone: the oldest P1 go, P0 stays
    assert ob.lanes.count[0] == 300
    assert _sample("edged_uplink_evictions_total", priority="1", reason="cap") > p1_before
    kept = {r[0] for r in ob.call(lambda c: c.execute("SELECT id FROM events").fetchall())}
    import uuid

    assert all(uuid.UUID(e["id"]).bytes in kept for e in p0 + newest)
    ob.close()


def test_ttl_sweep_drops_old_p1_p2_never_p0(tmp_path: Path) -> None:
    ob = Outbox(tmp_path / "o.db", ttl_s={1: 7 * 86400.0, 2: 86400.0})
    old = time.time() - 2 * 86400
    ob.append([new_event("x", "s", {}, priority=p, ts=old) for p in (0, 1, 2)])  # ts is not the clock...
    ob.append(_events(3, 2))
    # ...the id's UUIDv7 time is: age the rows as if created two days ago
    ob.call(lambda c: c.execute("UPDATE events SET created_ms = created_ms - 2*86400*1000 WHERE rowid <= 3"))
    dropped = ob.sweep()
    assert dropped == {2: 1}
    assert ob.lanes.count == {0: 1, 1: 1, 2: 3}
    dropped = ob.sweep(int((time.time() + 8 * 86400) * 1000))
    assert dropped == {1: 1, 2: 3}
    assert ob.lanes.count == {0: 1, 1: 0, 2: 0}
    ob.close()


@contextlib.contextmanager
def _tmpfs(path: Path, size: str) -> Iterator[bool]:
    path.mkdir()
    if os.geteuid() != 0:
        yield False
        return
    ok = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True
    )
    try:
        yield ok.returncode == 0
    finally:
        if ok.returncode == 0:
            subprocess.run(["umount", "-l", str(path)], check=False)


def _fill_until_full(ob: Outbox) -> int:
    failures = 0
    for _ in range(400):
        try:
            ob.append(_events(200, 1, size=400))
        except OutboxWriteError:
            failures += 1
            if failures >= 2:
                break
    return failures


def test_full_disk_is_counted_not_a_crash(tmp_path: Path) -> None:
    """Something else fills the disk (clips, logs): commits fail and are counted, the writer
    lives on, producers get an error (so they keep their events), and once space is freed
    the outbox works again with nothing lost."""
    with _tmpfs(tmp_path / "small", "4m") as mounted:
        if not mounted:
            pytest.skip("needs root to mount a small tmpfs (the page-limit test covers SQLITE_FULL)")
        before = _sample("edged_uplink_outbox_write_errors_total", reason="disk_full")
        ob = Outbox(tmp_path / "small" / "o.db")
        critical = _events(50, 0, type_="door_forced")
        ob.append(critical)
        filler = tmp_path / "small" / "clips.bin"
        with open(filler, "wb") as f, contextlib.suppress(OSError):
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        assert _fill_until_full(ob) >= 1
        assert _sample("edged_uplink_outbox_write_errors_total", reason="disk_full") > before
        assert ob._thread.is_alive()  # the writer survived
        filler.unlink()
        late = _events(10, 0, type_="door_forced")
        assert ob.append(late).accepted == 10  # works again once there is room
        kept = ob.call(lambda c: c.execute("SELECT COUNT(*) FROM events WHERE priority=0").fetchone()[0])
        assert kept == 60
        ob.close()


def test_database_full_via_page_limit_is_counted(tmp_path: Path) -> None:
    """SQLite's own SQLITE_FULL (max_page_count) when no tmpfs can be mounted."""
    before = _sample("edged_uplink_outbox_write_errors_total", reason="disk_full")
    ob = Outbox(tmp_path / "o.db")
    ob._conn.execute("PRAGMA max_page_count=200")
    assert _fill_until_full(ob) >= 1
    assert _sample("edged_uplink_outbox_write_errors_total", reason="disk_full") > before
    assert ob._thread.is_alive()
    ob.close()


def test_corrupt_file_is_moved_aside_and_a_fresh_one_started(tmp_path: Path) -> None:
    path = tmp_path / "o.db"
    ob = Outbox(path)
    ob.append(_events(500, 1))
    ob.close()
    with open(path, "r+b") as f:  # keep the header, smash the pages
        f.seek(1024)
        f.write(os.urandom(64 * 1024))
    before = _sample("edged_uplink_outbox_corrupt_total")
    ob = Outbox(path)
    assert ob.report.corrupt_moved_to is not None and ob.report.corrupt_moved_to.exists()
    assert _sample("edged_uplink_outbox_corrupt_total") == before + 1
    assert ob.lanes.count == {0: 0, 1: 0, 2: 0}
    assert ob.append(_events(5, 0)).accepted == 5
    ob.close()


def test_full_disk_in_the_uplink_worker_keeps_it_running_and_loses_nothing(tmp_path: Path) -> None:
    """The real worker on a 4 MB tmpfs filled by something else: commits fail (nothing is
    acked, so the producer keeps its events), the worker lives on, and once space is freed
    every event reaches the receiver."""
    from uplink_helpers import Box, ReceiverProc, make_keys, receiver_rows, wait_for, wait_idle

    with _tmpfs(tmp_path / "state", "4m") as mounted:
        if not mounted:
            pytest.skip("needs root to mount a small tmpfs")
        k = make_keys(tmp_path)
        receiver = ReceiverProc(tmp_path, k.dir).start()
        box = Box(tmp_path, "site-a", receiver.endpoint, k).start(wait=True)
        filler = tmp_path / "state" / "clips.bin"
        try:
            with open(filler, "wb") as f, contextlib.suppress(OSError):
                while True:
                    f.write(b"\0" * 65536)
                    f.flush()
            events = [
                new_event("door_forced", f"door-{i}", {"pad": "x" * 300}, priority=0) for i in range(3000)
            ]
            for e in events:
                box.producer.send(e)
            wait_for(lambda: b"outbox_commit_failed" in box.log.read_bytes(), 30, 0.1)
            time.sleep(1.0)
            assert box.alive() and box.producer.pending > 0
            filler.unlink()
            wait_idle(box.producer, 60)
            wait_for(lambda: len(receiver_rows(receiver.db)) >= 3000, 60, 0.2)
            assert {r[1] for r in receiver_rows(receiver.db)} == {e["id"] for e in events}
        finally:
            box.close()
            receiver.stop()
