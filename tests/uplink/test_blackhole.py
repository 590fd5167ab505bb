"""A link that goes silent (loopback proxy dropping every byte): the backlog grows within the
cap, the dead link is noticed, and after the link is restored sending resumes within 15 s with
the critical events first."""

from __future__ import annotations

import json
import time
from pathlib import Path

from uplink_helpers import Box, ReceiverProc, make_keys, receiver_rows, wait_for, wait_idle
from uplink_proxy import BlackholeProxy

from edged.events import new_event

CAP = 4 << 20


def test_blackholed_link_backlog_then_p0_first_after_restore(tmp_path: Path) -> None:
    k = make_keys(tmp_path)
    receiver = ReceiverProc(tmp_path, k.dir).start()
    proxy = BlackholeProxy(receiver.port)
    box = Box(tmp_path, "site-a", proxy.endpoint, k, outbox_max_bytes=CAP, backoff_max_s=10.0).start()
    try:
        warm = [new_event("heartbeat", "cam-1", {"n": i}, priority=1) for i in range(50)]
        for e in warm:
            box.producer.send(e)
        wait_for(lambda: len(receiver_rows(receiver.db)) == 50, 30, 0.1)
        printed = [json.loads(line) for line in receiver.log.read_text().splitlines() if line.startswith("{")]
        assert {e["id"] for e in printed} == {e["id"] for e in warm}  # `--print`: live, one line each
        assert {e["site"] for e in printed} == {"site-a"}

        proxy.blackhole.set()
        backlog = [new_event("telemetry", "cam-1", {"n": i}, priority=2) for i in range(300)]
        backlog += [new_event("access_granted", f"door-{i}", {"n": i}, priority=1) for i in range(300)]
        backlog += [new_event("door_forced", f"door-{i}", {"n": i}, priority=0) for i in range(100)]
        for e in backlog:
            box.producer.send(e)
        wait_idle(box.producer, 30)  # all accepted by the outbox while the link is dead
        wait_for(lambda: b"uplink_link_lost" in box.log.read_bytes(), 15, 0.2)  # heartbeat noticed it
        counts = dict(box.outbox_rows())
        assert counts.get(0) == 100 and counts.get(1, 0) >= 300 and counts.get(2, 0) >= 300, counts
        assert box.outbox_rows("SELECT SUM(size) FROM events")[0][0] <= CAP
        assert len(receiver_rows(receiver.db)) == 50  # nothing got through the blackhole
        time.sleep(3.0)  # a few reconnect attempts into the blackhole

        proxy.blackhole.clear()
        restored = time.monotonic()
        wait_for(lambda: len(receiver_rows(receiver.db)) > 50, 15, 0.05)
        resumed_s = time.monotonic() - restored
        print(f"resumed after {resumed_s:.2f} s")
        assert resumed_s <= 15.0
        wait_for(lambda: len(receiver_rows(receiver.db)) >= 750, 30, 0.1)

        backlog_ids = {e["id"] for e in backlog}
        order = [prio for _, eid, prio, _ in receiver_rows(receiver.db) if eid in backlog_ids]
        assert len(order) == 700
        assert order[:100] == [0] * 100, "P0 must drain first after the outage"
    finally:
        box.close()
        proxy.close()
        receiver.stop()
