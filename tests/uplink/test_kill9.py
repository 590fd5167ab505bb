"""kill -9 of the uplink worker and of the receiver, many times, while events flow.

Real processes: the uplink worker (`python -m edged.workers uplink`), `edged receiver`, a
producer on the real reliable bus channel, real CurveZMQ over loopback TCP. The producer keeps
every event until the outbox has committed it (the worker acks only after the commit), so at
the end every event must have been accepted, and every accepted event must be in the
receiver's database exactly once. Each round sends a burst and kills while it is being
delivered, so batches are in flight at the kill (a sender that dropped rows before the
server's ack fails this test).
"""

from __future__ import annotations

import random
import time
from pathlib import Path

from uplink_helpers import Box, ReceiverProc, make_keys, receiver_rows, wait_for, wait_idle

from edged.events import new_event

ROUNDS = 8


def test_every_accepted_event_arrives_exactly_once_across_kill9(tmp_path: Path) -> None:
    rng = random.Random(7)
    k = make_keys(tmp_path)
    receiver = ReceiverProc(tmp_path, k.dir).start()
    box = Box(tmp_path, "site-a", receiver.endpoint, k).start(wait=True)
    sent: list[str] = []
    kills = {"uplink": 0, "receiver": 0}
    try:
        i = 0
        for _ in range(ROUNDS):
            for _ in range(rng.randrange(1000, 3000)):  # all lanes; some name another site
                data = {"i": i, **({"site": "site-evil"} if i % 7 == 0 else {})}
                event = new_event("access_granted", f"door-{i % 50}", data, priority=i % 3)
                box.producer.send(event)
                sent.append(event["id"])
                i += 1
            time.sleep(rng.uniform(0.1, 0.5))  # delivery under way
            victim = rng.choice(["uplink", "receiver", "receiver", "both"])
            if victim in ("uplink", "both"):
                box.kill9()
                kills["uplink"] += 1
            if victim in ("receiver", "both"):
                receiver.kill9()
                kills["receiver"] += 1
            time.sleep(rng.uniform(0.0, 0.3))
            if not box.alive():
                box.start(wait=True)
            if receiver.proc is not None and receiver.proc.poll() is not None:
                receiver.start()
        assert kills["uplink"] >= 2 and kills["receiver"] >= 2, kills
        wait_idle(box.producer, 60)  # every event was accepted (committed) by the outbox
        wait_for(lambda: len(receiver_rows(receiver.db)) >= len(sent), 90, 0.25)
        rows = receiver_rows(receiver.db)
        ids = [r[1] for r in rows]
        assert len(ids) == len(set(ids)) == len(sent)
        assert set(ids) == set(sent)
        assert {r[0] for r in rows} == {"site-a"}  # from the key, never from the payload
        wait_for(lambda: box.outbox_rows("SELECT COUNT(*) FROM events")[0][0] == 0, 30, 0.2)
    finally:
        box.close()
        receiver.stop()
