"""Whitelist and visitor passes in SQLite on disk, and the decision on a plate string."""

from __future__ import annotations

from pathlib import Path

import pytest

from edged.gates.passes import PassStore, normalize_plate


def test_plate_normalisation() -> None:
    assert normalize_plate("渝A·12345") == normalize_plate(" 渝a 12345 ") == normalize_plate("渝A-12345")
    assert normalize_plate("渝A·12345") == "渝A12345"


def test_whitelist_visitor_windows_and_entries(tmp_path: Path) -> None:
    store = PassStore(tmp_path / "passes.sqlite")
    store.add("渝A·12345", "whitelist", note="resident b3-1201")
    store.add("渝B 77777", "visitor", valid_from=1000.0, valid_until=2000.0, uses=1)
    store.add("川C99999", "visitor", checkpoints=["south"], valid_until=5000.0)

    d = store.decide("渝a12345", "north", now=10.0)
    assert (d.allowed, d.result, d.note) == (True, "whitelist", "resident b3-1201")
    assert store.decide("渝B77777", "north", now=500.0).result == "not_yet_valid"
    first = store.decide("渝B77777", "north", now=1500.0)
    assert (first.allowed, first.result) == (True, "visitor")
    assert store.decide("渝B77777", "north", now=1501.0).result == "used_up"
    assert store.decide("渝B77777", "north", now=2500.0).result == "expired"
    assert store.decide("川C99999", "north", now=10.0).result == "wrong_checkpoint"
    assert store.decide("川C99999", "south", now=10.0).allowed
    assert store.decide("京A00000", "north", now=10.0).result == "unknown"
    assert store.decide(" ·- ", "north", now=10.0).result == "unreadable"
    assert store.count() == {"whitelist": 1, "visitor": 2}
    store.close()

    reopened = PassStore(tmp_path / "passes.sqlite")  # on disk: survives a restart, entries too
    assert reopened.decide("渝B77777", "north", now=1600.0).result == "used_up"
    assert reopened.remove("渝A 12345") == 1
    assert reopened.decide("渝A12345", "north", now=10.0).result == "unknown"


def test_corrupt_store_is_moved_aside(tmp_path: Path) -> None:
    path = tmp_path / "passes.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    store = PassStore(path)
    assert store.decide("渝A12345", "north").result == "unknown"
    assert any(p.name.startswith("passes.sqlite.corrupt-") for p in tmp_path.iterdir())


def test_bench_prints_one_json_line(capsys: pytest.CaptureFixture[str]) -> None:
    import argparse
    import json

    from edged.gates import bench

    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)
    assert bench.run(parser.parse_args(["--requests", "20", "--opens", "3", "--passes", "50"])) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["read_inputs"]["n"] == 20 and out["open_command_to_relay_on"]["n"] == 3
    assert out["plate_decision"]["passes"] == 50


def test_config_example_in_docs_is_valid() -> None:
    import re

    import yaml

    from edged.config.gates import GatesConfig
    from edged.config.rules import RuleConfig

    text = (Path(__file__).parents[2] / "docs" / "gates.md").read_text(encoding="utf-8")
    blocks = [yaml.safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", text, re.S)]
    gates = GatesConfig.model_validate(blocks[0]["gates"])
    assert gates.checkpoints[0].io is not None and gates.checkpoints[0].io.close_coil == 1
    RuleConfig.model_validate(blocks[1]["rules"][0])


def test_config_rejects_unknown_device_and_shared_coil() -> None:
    from pydantic import ValidationError

    from edged.config.gates import GatesConfig

    base = {"devices": [{"name": "io", "host": "h"}]}
    with pytest.raises(ValidationError, match=r"not in gates\.devices"):
        GatesConfig.model_validate({**base, "checkpoints": [{"id": "a", "io": {"device": "nope"}}]})
    shared = [{"id": c, "io": {"device": "io", "unit": 1, "open_coil": 0}} for c in ("a", "b")]
    with pytest.raises(ValidationError, match="already used by a"):
        GatesConfig.model_validate({**base, "checkpoints": shared})
    assert GatesConfig.model_validate({"checkpoints": [{"id": "bare", "plate_camera": "cam"}]})
