"""Per-person decisions: ≥ N valid frames, median of per-frame robust maxima, one alarm per person.

- Body estimate = skin (canthus) + the site's skin→body offset (`site_offset`, default), or the
  person is compared with the rolling median of recent people + Δ (`crowd_relative`).
- A reading in the pre-alarm band waits for more frames (up to `max_decision_s`) before it is
  decided; above the threshold it is decided at once.
- After a "normal" decision a late alarm needs threshold + hysteresis, so a reading hovering
  at the line does not flip; a person is alarmed at most once, and a new track that re-appears
  where an alarmed one was lost moments ago (tracker fragmentation) is that same person.
"""

from __future__ import annotations

import statistics
from collections import deque
from dataclasses import dataclass, field

from edged.config.thermal import ThermalConfig
from edged.pipelines.thermal.faces import Box
from edged.pipelines.thermal.tracking import FrameReading, Track


@dataclass(slots=True)
class Reading:
    track: int
    t_first: float
    t_decision: float
    frames: int
    skin_c: float
    body_c: float
    threshold_c: float
    mode: str  # site_offset | crowd_relative | uncalibrated
    alarm: bool
    box: Box
    flags: list[str] = field(default_factory=list)
    late: bool = False
    t_box: float = 0.0  # when `box` was seen
    final_skin_c: float | None = None  # over the whole pass, set when the track ends
    final_body_c: float | None = None


class CrowdBaseline:
    def __init__(self, window: int, min_people: int) -> None:
        self.values: deque[float] = deque(maxlen=window)
        self.min_people = min_people

    def add(self, body_c: float) -> None:
        self.values.append(body_c)

    def median(self) -> float | None:
        return statistics.median(self.values) if len(self.values) >= self.min_people else None


@dataclass(slots=True)
class Ended:
    t_end: float
    center: tuple[float, float]
    width: float
    skin_c: float | None
    alarmed: bool
    track: Track


class Decider:
    def __init__(self, cfg: ThermalConfig) -> None:
        self.cfg = cfg
        self.crowd = CrowdBaseline(cfg.crowd.window, cfg.crowd.min_people)
        self.recent: deque[Ended] = deque(maxlen=64)
        self.duplicates_suppressed = 0
        self.frame_dt = 0.1  # frame interval, kept up to date by the analytic

    def threshold(self, calibrated: bool) -> tuple[float | None, str]:
        """(body threshold, mode) in force; None: no alarm may be raised now."""
        cfg = self.cfg
        relative = cfg.compensation == "crowd_relative" or (not calibrated and cfg.crowd_when_uncalibrated)
        if relative:
            median = self.crowd.median()
            if median is not None:
                return median + cfg.crowd.delta_c, "crowd_relative"
        if not calibrated:
            return None, "uncalibrated"
        return cfg.threshold_c, "site_offset"

    def estimate(self, readings: list[FrameReading]) -> float:
        """Median skin reading over the frames with the largest faces.

        A small face under-resolves the canthus and always reads low (never high), so the
        frames at or near the largest face size seen carry the reading.
        """
        biggest = max(r.width for r in readings)
        best = [r for r in readings if r.width >= 0.85 * biggest]
        if len(best) < self.cfg.min_frames:
            best = sorted(readings, key=lambda r: r.width)[-self.cfg.min_frames :]
        return statistics.median(r.skin_c for r in best if r.skin_c is not None)

    def offset(self, readings: list[FrameReading]) -> float:
        """Skin -> body offset: the site's, plus the forehead's extra when glasses hid the canthi."""
        glasses = sum("glasses" in r.flags for r in readings) > len(readings) / 2
        return self.cfg.skin_offset_c + (self.cfg.glasses_extra_offset_c if glasses else 0.0)

    def usable(self, tr: Track, calibrated_now: bool, force: bool) -> tuple[list[FrameReading], bool] | None:
        """The readings a decision rests on and whether they were calibrated; None: not yet.

        While the blackbody is locked only calibrated frames count (a track seen partly before
        the lock waits for them); an uncalibrated decision happens only while it is not locked,
        or when the person leaves without enough calibrated frames.
        """
        valid = tr.valid_readings()
        good = [r for r in valid if "uncalibrated" not in r.flags]
        if len(good) >= self.cfg.min_frames:
            return good, True
        if len(valid) >= self.cfg.min_frames and (force or not calibrated_now):
            return valid, False
        return None

    def evaluate(self, tr: Track, t: float, calibrated: bool, force: bool = False) -> Reading | None:
        """A first decision, a late alarm, or None (not yet / nothing new).

        Frames read while the blackbody was lost count only for an uncalibrated (relative or
        alarm-free) decision; `force` decides now (the track is leaving the view).
        """
        cfg = self.cfg
        if tr.alarmed:
            return None
        usable = self.usable(tr, calibrated, force)
        if usable is None:
            return None
        valid, calibrated = usable
        skin = self.estimate(valid)
        # compared at the 0.01 °C display resolution: "≥ 37.3" means what the screen shows
        body = round(skin + self.offset(valid), 2)
        limit, mode = self.threshold(calibrated)
        limit = None if limit is None else round(limit, 2)
        t_first = valid[0].t
        flags = sorted({f for r in valid for f in r.flags})
        if not tr.decided:
            borderline = limit is not None and limit - cfg.pre_alarm_c <= body < limit
            # the last frame that still keeps the decision within max_decision_s
            latest = cfg.max_decision_s - self.frame_dt
            wait_s = latest if borderline else min(cfg.decide_after_s, latest)
            if t - t_first < wait_s - 1e-6 and not force:
                return None
            tr.decided = True
            alarm = limit is not None and body >= limit
            if borderline:
                flags.append("pre_alarm")
            if alarm and self._same_as_alarmed(tr, skin, t):
                tr.suppressed = True
                self.duplicates_suppressed += 1
                alarm = False
                flags.append("reidentified")
            tr.alarmed = alarm
            if mode != "uncalibrated":
                self.crowd.add(body)
            limit_c = limit if limit is not None else cfg.threshold_c
            tr.reading = Reading(
                tr.id, t_first, t, len(valid), skin, body, limit_c, mode, alarm, tr.box, flags
            )
            tr.reading.t_box = tr.t_last
            return tr.reading
        if tr.suppressed or limit is None or body < round(limit + cfg.hysteresis_c, 2):
            return None
        tr.alarmed = True
        late = Reading(
            tr.id, t_first, t, len(valid), skin, body, limit, mode, True, tr.box, [*flags, "late"], True
        )
        late.t_box = tr.t_last
        return late

    def track_ended(self, tr: Track) -> None:
        usable = self.usable(tr, True, True)
        skin = self.estimate(usable[0]) if usable else None
        if tr.reading is not None and usable and skin is not None:  # the final, best-resolved reading
            tr.reading.final_skin_c = skin
            tr.reading.final_body_c = skin + self.offset(usable[0])
        cx, cy = tr.center()
        self.recent.append(Ended(tr.t_last, (cx, cy), tr.box[2], skin, tr.alarmed or tr.suppressed, tr))

    def fragment_of(self, tr: Track, t: float) -> Track | None:
        """An undecided track lost moments ago where this new one starts: continue its readings."""
        for e in reversed(self.recent):
            if t - e.t_end > min(self.cfg.reid_window_s, 1.0):
                break
            if not e.track.decided and _near(tr.center(), e.center, max(tr.box[2], e.width)):
                self.recent.remove(e)
                return e.track
        return None

    def _same_as_alarmed(self, tr: Track, skin: float, t: float) -> bool:
        for e in reversed(self.recent):
            if t - e.t_end > self.cfg.reid_window_s:
                break
            similar = e.skin_c is not None and abs(e.skin_c - skin) <= 0.5
            if e.alarmed and similar and _near(tr.center(), e.center, 3 * max(tr.box[2], e.width)):
                return True
        return False


def _near(a: tuple[float, float], b: tuple[float, float], reach: float) -> bool:
    return ((a[0] - b[0]) ** 2 + (a[1] - b[1]) ** 2) ** 0.5 <= reach
