"""The live entry point, the CLI commands and the evaluator, end to end on rendered clips."""

from __future__ import annotations

import json
import threading
import time
import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import structlog
import yaml
from thermal_support import quiet_camera

from edged.cli import main
from edged.config.camera import CameraConfig
from edged.config.loader import ConfigError, validate_text
from edged.events import validate_event
from edged.pipelines.thermal.synth import write_clip, write_suite
from edged.pipelines.thermal.synth_scene import Person, Scene
from edged.pipelines.thermal.worker import run_thermal_camera


def _febrile_clip(tmp_path: Path) -> Path:
    people = [Person(1, 38.8, 37.6, 1.2, 3.4, (-0.2, 3.0), (0.1, 1.4))]
    return write_clip(
        tmp_path, "fever", Scene(quiet_camera(netd_c=0.05), 4.0, people), np.random.default_rng(2)
    )


class _Ctx:
    """Stands in for the lead's WorkerContext (beat/emit/publish/stopping/log/config): the bus itself
    is tested by the foundation; here we check what the thermal worker hands it."""

    def __init__(self, state_dir: Path) -> None:
        self.stopping = threading.Event()
        self.log = structlog.get_logger()
        self.config = types.SimpleNamespace(runtime=types.SimpleNamespace(state_dir=state_dir))
        self.events: list[dict[str, Any]] = []
        self.published: list[tuple[str, Any]] = []
        self.beats = 0

    def emit(self, event: dict[str, Any]) -> None:
        self.events.append(validate_event(event))

    def publish(self, topic: str, body: Any) -> None:
        self.published.append((topic, body))

    def beat(self, **progress: Any) -> None:
        self.beats += 1


def test_live_worker_emits_fever_with_crops_publishes_screening_and_stops(tmp_path: Path) -> None:
    npz = _febrile_clip(tmp_path)
    section = yaml.safe_load(npz.with_suffix(".yaml").read_text())
    section["source"] = str(npz)  # looped and paced like a live camera
    section["thermal"]["summary_interval_s"] = 1.0
    camera = CameraConfig.model_validate(section)
    ctx = _Ctx(tmp_path / "state")
    worker = threading.Thread(target=run_thermal_camera, args=(ctx, camera))
    worker.start()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not any(e["type"] == "fever" for e in ctx.events):
        time.sleep(0.1)
    ctx.stopping.set()
    worker.join(timeout=10)
    assert not worker.is_alive()
    fever = next(e for e in ctx.events if e["type"] == "fever")
    assert fever["source"] == camera.id and fever["priority"] == 0
    assert fever["data"]["temp_c"] == pytest.approx(38.8, abs=0.25)
    assert Path(fever["data"]["thermal_crop"]).is_file()
    assert Path(fever["data"]["thermal_crop_radiometric"]).is_file()
    summaries = [b for topic, b in ctx.published if topic == "screening"]
    assert summaries and summaries[-1]["calibration"] == "locked"
    assert ctx.beats >= 4


def test_live_worker_beats_while_its_camera_is_unreachable(tmp_path: Path) -> None:
    camera = CameraConfig.model_validate({"id": "gone", "source": "isapi://a:b@127.0.0.1:9/2", "thermal": {}})
    ctx = _Ctx(tmp_path)
    worker = threading.Thread(target=run_thermal_camera, args=(ctx, camera))
    worker.start()
    time.sleep(1.2)
    ctx.stopping.set()
    worker.join(timeout=10)
    assert not worker.is_alive() and ctx.beats >= 3


def test_analyze_command_writes_schema_events(tmp_path: Path) -> None:
    npz = _febrile_clip(tmp_path)
    out = tmp_path / "out" / "events.jsonl"
    camera = str(npz.with_suffix(".yaml"))
    readings = str(tmp_path / "readings.jsonl")
    rc = main(
        ["analyze", "thermal", str(npz), "--camera", camera, "--events", str(out), "--readings", readings]
    )
    assert rc == 0
    events = [validate_event(json.loads(line)) for line in out.read_text().splitlines()]
    [fever] = [e for e in events if e["type"] == "fever"]
    data = fever["data"]
    for key in (
        "temp_c",
        "skin_temp_c",
        "track",
        "t_first",
        "t_decision",
        "frames",
        "blackbody_offset_c",
        "quality",
    ):
        assert key in data
    assert data["t_first"] <= data["t_decision"] <= data["t_first"] + 1.0 and data["frames"] >= 5
    assert Path(data["thermal_crop"]).parent == tmp_path / "out" / "evidence"
    assert len((tmp_path / "readings.jsonl").read_text().splitlines()) == 1


def test_fixed_keys_only_section_is_valid_and_bad_values_are_clear() -> None:
    text = "id: t1\nsource: a.npz\nfps: 9\nthermal:\n  blackbody: {roi: [1, 2, 8, 8], set_point_c: 35.0}\n"
    text += "  threshold_c: 37.3\n  skin_offset_c: 1.2\n"
    camera = validate_text(text, CameraConfig)
    assert camera.thermal is not None and camera.thermal.compensation == "site_offset"
    with pytest.raises(ConfigError) as err:
        validate_text(text.replace("37.3", "99"), CameraConfig)
    assert err.value.lines[0].startswith("thermal.threshold_c:")


def test_synth_and_eval_commands_score_a_small_suite(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_suite(tmp_path / "suite", 2, "walkthrough", seed=5, duration_s=8.0)
    assert main(["eval", "thermal", str(tmp_path / "suite")]) == 0
    scores = json.loads(capsys.readouterr().out)
    assert scores["clips"] == 2 and scores["people"] >= 2
    assert scores["object_alarms"] == 0 and scores["afebrile_alarms"] == 0
