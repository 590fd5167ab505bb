"""Demo part: the complex's 225 unit doors on 15 simulated RS-485 buses (libosdp PDs on ptys).

Five buildings × three units × fifteen floors; each unit is a bus, each building a doors
worker. A script swipes resident cards, lets strangers try unknown cards (→ `stranger`),
forces a door, holds one open, tampers a reader and silences one for a while.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from edged.access.credentials import CredentialStore
from edged.access.layout import doors_section, resident_cards, sim_spec

DOORS = 225


class DoorsPart:
    name = "doors"

    def __init__(self, doors: int = DOORS, period_s: float = 2.0) -> None:
        self.doors, self.period_s = doors, period_s
        self._key = os.urandom(16).hex()
        self._section: dict[str, Any] = {}

    def configure(self, site: dict[str, Any], workdir: Path) -> None:
        keys = workdir / "osdp-keys.json"
        keys.write_text(json.dumps({"default": self._key}))
        os.chmod(keys, 0o600)
        self._section = doors_section(self.doors, workdir, keys_file=keys)
        # Short held-open timers so the demo shows the pre-alarm and alarm within a minute.
        for d in self._section["doors"]:
            d.update(held_open_prealarm_s=10, held_open_s=20)
        site["doors"] = self._section
        store = CredentialStore(self._section["credentials_db"])
        store.upsert(resident_cards(self._section))
        store.close()

    @contextlib.contextmanager
    def simulators(self, site: dict[str, Any], workdir: Path) -> Iterator[None]:
        spec = sim_spec(self._section, self._key, f"ipc://{workdir}/osdp-sim.sock")
        (workdir / "osdp-sim.json").write_text(json.dumps(spec))
        proc = subprocess.Popen(
            [sys.executable, "-m", "edged.drivers.osdp_sim", str(workdir / "osdp-sim.json")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        stop = threading.Event()
        script = threading.Thread(target=self._script, args=(spec["control"], stop), daemon=True)
        script.start()
        try:
            yield
        finally:
            stop.set()
            script.join(5)
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()

    def _script(self, control: str, stop: threading.Event) -> None:
        import msgpack
        import zmq

        ctx = zmq.Context()
        sock = ctx.socket(zmq.REQ)
        sock.setsockopt(zmq.RCVTIMEO, 3000)
        sock.connect(control)
        doors = self._section["doors"]
        rnd = random.Random(7)

        def call(**req: Any) -> None:
            sock.send(msgpack.packb(req))
            sock.recv()

        def where(i: int) -> dict[str, Any]:
            r = doors[i]["reader"]
            return {"bus": r["bus"], "address": r["address"]}

        def resident() -> None:
            i = rnd.randrange(len(doors))
            call(op="swipe", card=100000 + i, **where(i))

        def stranger() -> None:
            for _ in range(3):
                call(op="swipe", card=424242, **where(7))

        steps = [
            resident,
            stranger,
            lambda: call(op="door", open=True, **where(20)),  # forced
            lambda: call(op="door", open=False, **where(20)),
            lambda: call(op="tamper", active=True, **where(40)),
            lambda: call(op="tamper", active=False, **where(40)),
            lambda: call(op="silent", silent=True, **where(60)),
        ]
        try:
            stop.wait(15)  # the workers start and the readers come online
            n = 0
            while not stop.wait(self.period_s):
                if n < len(steps):
                    steps[n]()
                else:
                    steps[0]()
                if n == len(steps) + 10:
                    call(op="silent", silent=False, **where(60))
                n += 1
        except zmq.ZMQError:
            pass
        finally:
            sock.close(linger=0)
            ctx.term()
