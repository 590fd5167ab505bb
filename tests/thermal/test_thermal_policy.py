"""The decision policy on its own (fed per-frame readings): crowd-relative mode, uncalibrated
mode, hysteresis on late alarms and re-identification of a fragmented alarmed track."""

from __future__ import annotations

from edged.config.thermal import ThermalConfig
from edged.pipelines.thermal.decisions import Decider
from edged.pipelines.thermal.tracking import FrameReading, Track


def _track(
    tid: int, skins: list[float], t0: float = 0.0, x: float = 50.0, flags: list[str] | None = None
) -> Track:
    tr = Track(tid, (x, 40.0, 24.0, 32.0), t0, t0)
    tr.readings = [FrameReading(t0 + i / 15, s, 24.0, True, list(flags or [])) for i, s in enumerate(skins)]
    tr.t_last = tr.readings[-1].t
    return tr


def _decide(decider: Decider, tr: Track, calibrated: bool = True):  # type: ignore[no-untyped-def]
    return decider.evaluate(tr, tr.t_last + 1.0, calibrated)


def test_crowd_relative_alarms_above_the_rolling_median_even_with_a_wrong_site_offset() -> None:
    cfg = ThermalConfig(compensation="crowd_relative", skin_offset_c=0.0)  # offset deliberately wrong
    decider = Decider(cfg)
    for i in range(10):
        r = _decide(decider, _track(i, [35.4 + 0.02 * i] * 8, t0=10.0 * i))
        assert r is not None and not r.alarm  # the first ten build the baseline (site offset till then)
    hot = _decide(decider, _track(99, [36.9] * 8, t0=200.0))
    assert hot is not None and hot.alarm and hot.mode == "crowd_relative"
    mild = _decide(decider, _track(100, [36.1] * 8, t0=210.0))
    assert mild is not None and not mild.alarm


def test_uncalibrated_frames_never_give_an_absolute_alarm() -> None:
    decider = Decider(ThermalConfig())
    r = decider.evaluate(_track(1, [37.9] * 8, flags=["uncalibrated"]), 5.0, calibrated=False)
    assert r is not None and r.mode == "uncalibrated" and not r.alarm
    relative = Decider(ThermalConfig(crowd_when_uncalibrated=True, crowd={"min_people": 3}))
    for i in range(3):
        assert not _decide(relative, _track(i, [35.5] * 8, t0=10.0 * i)).alarm  # type: ignore[union-attr]
    r = relative.evaluate(_track(9, [37.9] * 8, t0=50, flags=["uncalibrated"]), 60.0, calibrated=False)
    assert r is not None and r.alarm and r.mode == "crowd_relative"


def test_late_alarm_needs_hysteresis_and_a_person_alarms_once() -> None:
    decider = Decider(ThermalConfig())
    tr = _track(1, [36.05] * 6)  # body 37.25: normal, in the pre-alarm band
    first = _decide(decider, tr)
    assert first is not None and not first.alarm and "pre_alarm" in first.flags
    tr.readings += [FrameReading(1.0 + i / 15, 36.12, 24.0, True, []) for i in range(20)]  # 37.32
    assert decider.evaluate(tr, 3.0, True) is None  # above the line, not above line + hysteresis
    tr.readings += [FrameReading(3.0 + i / 15, 36.3, 24.0, True, []) for i in range(40)]  # 37.5
    late = decider.evaluate(tr, 6.0, True)
    assert late is not None and late.alarm and late.late
    assert decider.evaluate(tr, 7.0, True) is None


def test_a_fragment_of_an_alarmed_person_is_suppressed_but_a_second_febrile_person_is_not() -> None:
    decider = Decider(ThermalConfig())
    first = _track(1, [37.0] * 8, x=50)
    assert _decide(decider, first).alarm  # type: ignore[union-attr]
    decider.track_ended(first)
    again = _track(2, [37.05] * 8, t0=first.t_last + 0.5, x=60)
    r = _decide(decider, again)
    assert r is not None and not r.alarm and "reidentified" in r.flags
    other = _track(3, [37.0] * 8, t0=first.t_last + 0.5, x=200)  # far away: someone else
    assert _decide(decider, other).alarm  # type: ignore[union-attr]
    assert decider.duplicates_suppressed == 1
