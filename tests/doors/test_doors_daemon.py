"""A doors worker under the real supervisor (`edged run`): it reaches running, a card swipe on a
libosdp PD gives `access_granted` on the telemetry bus, and `open_door` over the command bus
unlocks the reader (the PD receives the timed output command)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import zmq
from doors_rig import SITE_KEY, site_dict
from support.daemon import Daemon, wait_for

from edged.access.credentials import CredentialStore
from edged.bus.commands import CommandClient, CommandError, CommandTimeout
from edged.bus.endpoints import Endpoints
from edged.bus.telemetry import TelemetrySubscriber
from edged.drivers.osdp_sim import Simulator


def test_doors_worker_in_the_daemon(tmp_path: Path) -> None:
    doors = site_dict(tmp_path, readers=3)["doors"]
    store = CredentialStore(doors["credentials_db"])
    store.upsert([{"kind": "card", "value": "314159", "door_group": "b1/u1", "holder": "Zhang"}])
    store.close()
    sim = Simulator()
    bus = sim.add_bus("bus-1", "pty", tmp_path / "bus-1.tty")
    for a in (1, 2, 3):
        bus.add_reader(a, SITE_KEY)
    with sim, Daemon(tmp_path, {"doors": doors}) as d:
        zctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
        ep = Endpoints(d.run_dir)
        sub = TelemetrySubscriber(zctx, ep.telemetry_out, ["event"])
        client = CommandClient(zctx, ep.commands("doors:g1"))
        seen: list[dict[str, Any]] = []

        def saw(etype: str) -> dict[str, Any] | None:
            while (got := sub.recv(20)) is not None:
                seen.append(got[1])
            return next((e for e in seen if e["type"] == etype), None)

        def online() -> bool:
            try:
                status = client.call("status", timeout_s=1.0)
            except CommandTimeout:
                return False
            return sum(1 for x in status["doors"].values() if x["online"]) == 3

        try:
            d.wait_running("doors:g1", 40)
            wait_for(online, 20, 0.2)
            sim.reader("bus-1", 2).swipe(314159)
            granted = wait_for(lambda: saw("access_granted"), 10)
            assert granted["source"] == "b1-u1-d2" and granted["data"]["holder"] == "Zhang"
            wait_for(lambda: sim.reader("bus-1", 2).unlocks, 5)

            result = client.call("open_door", {"door": "b1-u1-d3", "seconds": 4}, timeout_s=3.0)
            assert result == {"door": "b1-u1-d3", "unlocked_s": 4.0}
            unlock = wait_for(lambda: sim.reader("bus-1", 3).unlocks, 5)[0]
            assert unlock.action == "pulse" and unlock.seconds == 4.0
            assert wait_for(lambda: saw("door_opened_remotely"), 5)["source"] == "b1-u1-d3"
            with pytest.raises(CommandError, match="unknown door"):
                client.call("open_door", {"door": "nowhere"}, timeout_s=3.0)
            assert not [e for e in seen if e["type"] in ("sc_failed", "reader_offline")]
        except (CommandTimeout, TimeoutError):
            print(d.log_text()[-4000:])
            raise
        finally:
            client.close()
            sub.close()
            zctx.term()
