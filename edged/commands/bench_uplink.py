"""`edged bench uplink [--json]`: outbox ingest rate, backlog drain rate, online delivery latency.

Everything real: the SQLite outbox on disk (WAL, synchronous=FULL), the sender, CurveZMQ over
loopback TCP, and `edged receiver` in its own process committing to its own SQLite file.

1. ingest: producer threads append batches (`--batch`, default 500: the most the bus's
   receiver hands the worker's handler at once) and wait for each commit; events/s over the
   whole run.
2. drain: an outbox holding a 24 h backlog at 5 events/s (432,000 events) is emptied into the
   receiver; seconds from the sender's start to the last server ack.
3. online: events are created and appended at a steady rate while the link is up; p99 of
   event creation (its UUIDv7 time) → server ack seen by the box.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import zmq

from edged.events import Event, new_event
from edged.uplink import keys
from edged.uplink.link import LinkSettings
from edged.uplink.outbox import Outbox
from edged.uplink.sender import BatchSettings, Sender

TYPES = [("access_granted", 1), ("access_denied", 1), ("plate_read", 1), ("loitering", 1), ("telemetry", 2)]


def _event(rng: random.Random, i: int) -> Event:
    kind, prio = TYPES[i % len(TYPES)]
    if i % 97 == 0:
        kind, prio = "door_forced", 0
    data = {
        "card": f"{rng.randrange(10**9):09d}",
        "reader": i % 4,
        "building": f"B{i % 9}",
        "unit": f"{i % 30:02d}01",
    }
    return new_event(kind, f"door-{i % 225}", data, prio)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--ingest-events", type=int, default=100_000)
    parser.add_argument("--producers", type=int, default=4)
    parser.add_argument("--batch", type=int, default=500, help="events per append (per bus handler call)")
    parser.add_argument("--drain-events", type=int, default=432_000)
    parser.add_argument("--online-s", type=float, default=10.0)
    parser.add_argument("--online-rate", type=float, default=200.0, help="events/s while measuring latency")
    parser.add_argument("--workdir", type=Path, default=None, help="default: a temp dir (removed afterwards)")


def bench_ingest(
    path: Path, n: int, producers: int, rng: random.Random, batch: int = 500
) -> tuple[float, float, float]:
    """Returns (events/s, p99 seconds a producer waited for its commit, events per CPU second)."""
    events = [_event(rng, i) for i in range(n)]
    ob = Outbox(path)
    waits: list[float] = []
    t0, cpu0 = time.perf_counter(), time.process_time()

    def produce(k: int) -> None:
        for j in range(k * batch, n, batch * producers):
            t = time.perf_counter()
            ob.append(events[j : j + batch])
            waits.append(time.perf_counter() - t)

    threads = [threading.Thread(target=produce, args=(k,)) for k in range(producers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rate = n / (time.perf_counter() - t0)
    per_cpu = n / max(1e-9, time.process_time() - cpu0)
    ob.close()
    waits.sort()
    return rate, waits[int(len(waits) * 0.99)], per_cpu


class _Receiver:
    def __init__(self, work: Path) -> None:
        keys.generate(work / "server-keys", keys.SERVER_NAME)
        pub, self.box_file, _ = keys.generate(work / "box-keys", "box")
        (work / "server-keys" / keys.ALLOWED_DIR).mkdir()
        shutil.copy(pub, work / "server-keys" / keys.ALLOWED_DIR / "bench.key")
        self.server_key = keys.load_public(work / "server-keys" / f"{keys.SERVER_NAME}.key")
        self.log = open(work / "receiver.log", "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "edged", "receiver", "--bind", "tcp://127.0.0.1:*",
             "--keys", str(work / "server-keys"), "--db", str(work / "receiver.db")],
            stdout=self.log, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert self.proc.stderr is not None
        line = self.proc.stderr.readline()
        if "listening on" not in line:
            raise RuntimeError(f"receiver did not start: {line}")
        self.endpoint = line.rsplit(" ", 1)[-1].strip()

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(30)
        self.log.close()


class _Acks:
    def __init__(self) -> None:
        self.count = 0
        self.latencies: list[float] = []
        self.record = False
        self.done = threading.Event()
        self.target = 0

    def __call__(self, created_ms: list[int], now: float) -> None:
        self.count += len(created_ms)
        if self.record:
            self.latencies.extend(now - c / 1000 for c in created_ms)
        if self.target and self.count >= self.target:
            self.done.set()


def bench_link(work: Path, drain_n: int, online_s: float, rate: float, rng: random.Random) -> dict[str, Any]:
    receiver = _Receiver(work)
    ob = Outbox(work / "drain.db")
    for i in range(0, drain_n, 500):
        ob.append([_event(rng, j) for j in range(i, min(drain_n, i + 500))])
    acks = _Acks()
    acks.target = drain_n
    zctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
    settings = LinkSettings(receiver.endpoint, receiver.server_key, keys.load_pair(receiver.box_file))
    sender = Sender(zctx, ob, settings, BatchSettings(), on_acked=acks)
    stop = threading.Event()
    thread = threading.Thread(target=sender.run, args=(stop,))
    t0 = time.perf_counter()
    thread.start()
    try:
        if not acks.done.wait(600):
            raise RuntimeError(f"drain incomplete: {acks.count} of {drain_n} acked")
        drain_s = time.perf_counter() - t0
        acks.record = True
        start = acks.count
        sent = 0
        t1 = time.perf_counter()
        while (elapsed := time.perf_counter() - t1) < online_s:
            due = int(elapsed * rate) - sent
            if due > 0:
                ob.append([_event(rng, sent + k) for k in range(due)])
                sent += due
            time.sleep(0.005)
        acks.target = start + sent
        acks.done.clear()
        acks.done.wait(30)
        lat = sorted(acks.latencies)
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] if lat else float("nan")
    finally:
        stop.set()
        thread.join(30)
        ob.close()
        zctx.term()
        receiver.stop()
    return {"drain_s": drain_s, "online_p99_s": p99, "online_events": len(lat)}


def run(args: argparse.Namespace) -> int:
    rng = random.Random(1)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="edged-bench-uplink-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        ingest, append_p99, per_cpu = bench_ingest(
            work / "ingest.db", args.ingest_events, args.producers, rng, args.batch
        )
        link = bench_link(work, args.drain_events, args.online_s, args.online_rate, rng)
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    result = {
        "ingest_events_per_s": round(ingest, 1),
        "drain_events": args.drain_events,
        "drain_s": round(link["drain_s"], 3),
        "online_p99_s": round(link["online_p99_s"], 4),
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(f"ingest into the outbox: {result['ingest_events_per_s']:.0f} events/s (target >= 20000)")
        print(f"  a batch of {args.batch} waited for its commit: p99 {append_p99 * 1000:.1f} ms")
        print(f"  {per_cpu:.0f} events per CPU-second of this process (what a busy box leaves us)")
        print(f"drain {args.drain_events} events: {result['drain_s']:.1f} s (target < 60 s)")
        print(f"online p99 created -> server ack: {result['online_p99_s'] * 1000:.0f} ms (target < 1 s)")
        print(f"(cpus: {os.cpu_count()}, online events measured: {link['online_events']})")
    return 0
