"""UHPPOTE IP controller supervision against OUR simulator (edged.drivers.uhppote_sim): no vendor
simulator runs here, so this checks our use of the uhppoted codec against our reading of the protocol."""

from __future__ import annotations

import socket
import time
from pathlib import Path

from edged.access.credentials import CredentialStore
from edged.access.engine import DoorsEngine
from edged.config.site import SiteConfig
from edged.drivers.uhppote_sim import SimController
from edged.events import Event


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_controller_swipes_sync_reconcile_and_offline(tmp_path: Path) -> None:
    sim = SimController(405419896).start()
    cfg = SiteConfig.model_validate(
        {
            "site": {"id": "t"},
            "runtime": {"run_dir": str(tmp_path / "run"), "state_dir": str(tmp_path / "state")},
            "doors": {
                "credentials_db": str(tmp_path / "c.sqlite"),
                "controllers": [
                    {
                        "id": "ctl-1",
                        "serial": 405419896,
                        "address": f"127.0.0.1:{sim.port}",
                        "listen": f"127.0.0.1:{_free_udp_port()}",
                        "status_interval_s": 0.2,
                        "request_timeout_s": 0.2,
                        "offline_after": 2,
                    }
                ],
                "doors": [{"id": "b9-d1", "building": "b9", "controller": {"id": "ctl-1", "door": 1}}],
            },
        }
    )
    store = CredentialStore(tmp_path / "c.sqlite")
    store.upsert([{"kind": "card", "value": "8165535", "door_group": "b9", "holder": "Zhao"}])
    events: list[Event] = []
    engine = DoorsEngine(cfg, "ctl-1", events.append)

    def run_until(pred: object, timeout: float) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            engine.step(time.monotonic())
            if pred():  # type: ignore[operator]
                return True
            time.sleep(0.002)
        return False

    def of(t: str) -> list[Event]:
        return [e for e in events if e["type"] == t]

    try:
        assert run_until(lambda: 8165535 in sim.cards and sim.listener is not None, 5)  # card sync
        assert sim.cards[8165535][2] == [1, 0, 0, 0]
        assert sim.swipe(1, 8165535)  # the controller decides locally
        assert run_until(lambda: of("access_granted"), 3)
        assert of("access_granted")[0]["data"]["holder"] == "Zhao"
        sim.drop_pushes = True  # UDP loses the pushed event: the index gap is fetched
        assert not sim.swipe(1, 777)
        assert run_until(lambda: of("access_denied"), 3)
        assert of("access_denied")[0]["data"]["reason"] == "unknown"
        sim.drop_pushes = False
        assert engine.drive(
            engine.doors["b9-d1"].cfg, __import__("edged.access.door", fromlist=["Output"]).Output("pulse", 5)
        )
        assert run_until(lambda: sim.opened == [1], 3)
        sim.silent = True
        assert run_until(lambda: of("reader_offline"), 5)
        sim.silent = False
        assert run_until(lambda: of("reader_online"), 5)
    finally:
        engine.close()
        store.close()
        sim.stop()
