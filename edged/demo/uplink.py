"""Demo part: the central community server beside the daemon.

Keys are generated for the demo run (box and server, mode 0600), the reference receiver
listens on loopback with the box's key allow-listed, and the daemon's uplink delivers to it
over CurveZMQ. Once a second the demo prints what the "server" has durably stored; a little
into the run the server sends a downlink command (open the first door, or a ping) and the
box's result is printed.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import sqlite3
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from edged.uplink import keys
from edged.uplink.receiver import Receiver, ReceiverSettings
from edged.uplink.receiver_db import enqueue_command, wait_command

COMMAND_AFTER_S = 12.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _say(line: str) -> None:
    sys.stdout.write(f"{time.strftime('%H:%M:%S')}  SERVER {line}\n")
    sys.stdout.flush()


class UplinkPart:
    name = "uplink"

    def __init__(self) -> None:
        self.port = 0
        self.keys_dir = Path()

    def configure(self, site: dict[str, Any], workdir: Path) -> None:
        self.port = _free_port()
        self.keys_dir = workdir / "server-keys"
        _, _, server = keys.generate(self.keys_dir, keys.SERVER_NAME, force=True)
        pub, box_secret, _ = keys.generate(workdir / "box-keys", "box", force=True)
        (self.keys_dir / keys.ALLOWED_DIR).mkdir(exist_ok=True)
        shutil.copy(pub, self.keys_dir / keys.ALLOWED_DIR / f"{site['site']['id']}.key")
        site["uplink"] = {
            "server": f"tcp://127.0.0.1:{self.port}",
            "server_public_key": server.public.decode(),
            "key_file": str(box_secret),
            "summary_interval_s": 20.0,
        }

    @contextlib.contextmanager
    def simulators(self, site: dict[str, Any], workdir: Path) -> Iterator[None]:
        db = workdir / "server.db"
        stored: Counter[str] = Counter()
        lock = threading.Lock()

        def on_stored(site_id: str, events: list[dict[str, Any]]) -> None:
            with lock:
                for e in events:
                    stored[f"P{e['priority']}"] += 1
                    stored[e["type"]] += 1

        settings = ReceiverSettings(bind=f"tcp://127.0.0.1:{self.port}", keys_dir=self.keys_dir, db=db)
        receiver = Receiver(settings)
        receiver.on_stored = on_stored
        stop = threading.Event()
        threads = [
            threading.Thread(target=receiver.serve, args=(stop,), name="demo-server", daemon=True),
            threading.Thread(target=self._report, args=(stop, stored, lock), daemon=True),
            threading.Thread(target=self._command, args=(stop, site, db), daemon=True),
        ]
        for t in threads:
            t.start()
        _say(f"reference receiver on {receiver.endpoint}, database {db}")
        try:
            yield
        finally:
            time.sleep(1.0)  # the box flushes its last batches on stop
            stop.set()
            for t in threads:
                t.join(timeout=5)
            with lock:
                lanes = ", ".join(f"P{p} {stored[f'P{p}']}" for p in range(3))
                _say(f"stored {sum(stored[f'P{p}'] for p in range(3))} events in total ({lanes})")

    def _report(self, stop: threading.Event, stored: Counter[str], lock: threading.Lock) -> None:
        shown = 0
        while not stop.wait(1.0):
            with lock:
                total = stored["P0"] + stored["P1"] + stored["P2"]
                if total == shown:
                    continue
                top = [(k, n) for k, n in stored.most_common() if not k.startswith("P")][:4]
            _say(
                f"stored {total - shown} new events (total {total}); " + ", ".join(f"{k}={n}" for k, n in top)
            )
            shown = total

    def _command(self, stop: threading.Event, site: dict[str, Any], db: Path) -> None:
        if stop.wait(COMMAND_AFTER_S):
            return
        doors = site.get("doors", {}).get("doors", [])
        name, args = ("door.open", {"door": doors[0]["id"], "seconds": 3}) if doors else ("ping", {})
        conn = sqlite3.connect(db, isolation_level=None, timeout=10)
        try:
            cid = enqueue_command(conn, site["site"]["id"], name, args)
        finally:
            conn.close()
        _say(f"→ box: {name} {args}")
        result = wait_command(db, cid, 20.0)
        if result is None:
            _say(f"← box: no result for {name} yet (it is retried until the box answers)")
        elif result.get("ok"):
            _say(f"← box: {name} ok: {result.get('result')}")
        else:
            _say(f"← box: {name} failed: {result.get('error')}")
