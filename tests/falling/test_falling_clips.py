"""Ground-truth clips from our generator through the real analytic (decode → detect → track → classify).

The clips are real H.264 files (ffmpeg/libx264), so compression artefacts are part of the test.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from falling_support import analyze, render, severities

from edged.events import validate_event


def test_clean_drop_gives_one_alarm_with_the_right_floor(tmp_path: Path) -> None:
    video, camera, truth = render(tmp_path, "drop", seed=11, objects=["drop"])
    events = analyze(video, camera)
    assert severities(events) == ["alarm"]
    obj, data = truth["objects"][0], events[0]["data"]
    validate_event(events[0])
    assert events[0]["type"] == "falling_object" and events[0]["priority"] == 0
    assert abs(data["floor"] - obj["floor"]) <= 1
    assert data["floor_range"][0] <= obj["floor"] <= data["floor_range"][1]
    assert data["window_column"] == obj["window_column"]
    assert abs(data["t_release"] - obj["t_release"]) < 0.5
    assert 0.0 <= data["t_alarm"] - obj["t_leave"] <= 2.0
    assert 4.0 <= data["accel_mps2"] <= 13.0
    t, _u, v = zip(*data["trajectory"], strict=True)
    assert v[-1] > v[0] and t == tuple(sorted(t))


def test_throw_with_initial_rise_is_caught(tmp_path: Path) -> None:
    video, camera, truth = render(tmp_path, "up", seed=12, objects=["throw_up"])
    obj = truth["objects"][0]
    assert obj["v0"][2] > 1.0  # the generator threw it upward
    events = analyze(video, camera)
    assert severities(events) == ["alarm"]
    data = events[0]["data"]
    assert data["floor_range"][0] <= obj["floor"] <= data["floor_range"][1]
    vs = [p[2] for p in data["trajectory"]]
    assert min(vs[:10]) < vs[0]  # the track itself shows the rise (image v goes up first)


@pytest.mark.parametrize(
    ("name", "distractors", "seed"),
    [
        ("bird", ["bird"], 21),
        ("leaf", ["leaf"], 22),
        ("light", ["light_on", "gain"], 23),
        ("shake", ["shake"], 24),
    ],
)
def test_distractors_give_no_alarm(tmp_path: Path, name: str, distractors: list[str], seed: int) -> None:
    video, camera, _ = render(tmp_path, name, seed=seed, objects=[], distractors=distractors, duration=10.0)
    events = analyze(video, camera)
    assert "alarm" not in severities(events)


def test_paper_bag_is_suspected_not_alarm(tmp_path: Path) -> None:
    video, camera, truth = render(
        tmp_path, "bag", seed=31, objects=["light"], px_range=(6.0, 9.0), tail_s=1.0
    )
    events = analyze(video, camera)
    assert severities(events) == ["suspected"]
    assert abs(events[0]["data"]["floor"] - truth["objects"][0]["floor"]) <= 1
