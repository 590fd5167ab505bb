"""The gates demo part: a valid site section, the fever rule, passes on disk, a live simulator."""

from __future__ import annotations

from pathlib import Path

import yaml
from pymodbus.client import ModbusTcpClient

from edged.config import SiteConfig
from edged.config.loader import validate_text
from edged.demo.gates import FEVER_CHECKPOINT, GatesPart
from edged.demo.runner import base_site
from edged.gates.passes import PassStore


def test_demo_part_configures_and_simulates(tmp_path: Path) -> None:
    site = base_site(tmp_path, 9999)
    part = GatesPart()
    part.configure(site, tmp_path)
    cfg = validate_text(yaml.safe_dump(site, allow_unicode=True), SiteConfig, "demo")
    assert len(cfg.gates.checkpoints) == 8
    rule = next(r for r in cfg.rules if r.when_type == "fever")
    assert rule.then[0].model_dump()["args"]["checkpoint"] == FEVER_CHECKPOINT
    store = PassStore(tmp_path / "state" / cfg.gates.passes_db)
    assert store.decide("渝A·12345", "north-vehicle-in").result == "whitelist"
    assert store.decide("渝A·V2024", "north-vehicle-in").result == "expired"
    store.close()

    with part.simulators(site, tmp_path):
        client = ModbusTcpClient("127.0.0.1", port=cfg.gates.devices[0].port, timeout=1, retries=0)
        assert client.connect()
        for unit in range(1, 9):  # every checkpoint's barrier starts closed, its loop free
            bits = client.read_discrete_inputs(0, count=2, device_id=unit).bits[:2]
            assert bits == [False, True]
        client.close()
