"""Security analytics over confirmed tracks: zone intrusion, loitering, directional line crossing.

Runs once per analysed (detected) frame. Each alarm fires once per object: track ids are never
reused, and per-(track, zone) state remembers what already fired. Times are stream seconds.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from edged.config.camera import LineConfig, ScheduleWindow, ZoneConfig
from edged.pipelines.geometry import (
    Box,
    Point,
    Polygon,
    anchor_point,
    scale_points,
    segments_intersect,
    side_of,
)
from edged.pipelines.tracker import Track

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(slots=True)
class Alarm:
    type: str  # intrusion | loitering | line_crossing
    rule: str  # zone or line id
    track: int
    cls: str
    box: Box
    score: float
    t: float
    priority: int
    data: dict[str, Any]
    polygon: list[Point] = field(default_factory=list)  # zone or line drawn on the snapshot


def in_schedule(windows: list[ScheduleWindow] | None, now: dt.datetime) -> bool:
    if not windows:
        return True
    day, clock = _DAYS[now.weekday()], now.time()
    prev_day = _DAYS[(now.weekday() - 1) % 7]
    for w in windows:
        if w.start <= w.end:
            if day in w.days and w.start <= clock <= w.end:
                return True
        elif (day in w.days and clock >= w.start) or (prev_day in w.days and clock <= w.end):
            return True
    return False


@dataclass
class _ZoneState:
    inside: int = 0
    outside: int = 0
    entered_t: float | None = None
    intrusion_fired: bool = False
    loitering_fired: bool = False


class _Zone:
    def __init__(self, cfg: ZoneConfig, scale: float) -> None:
        self.cfg = cfg
        self.poly = Polygon(scale_points(cfg.polygon, scale))
        self.states: dict[int, _ZoneState] = {}


class _Line:
    def __init__(self, cfg: LineConfig, scale: float) -> None:
        self.cfg = cfg
        pts = scale_points(cfg.points, scale)
        self.a, self.b = pts[0], pts[1]
        self.margin = cfg.margin_px * scale
        self.settled: dict[int, tuple[float, Point]] = {}  # track -> (side sign, point when settled)
        self.counts = {"in": 0, "out": 0}


class SecurityAnalytics:
    def __init__(
        self, zones: list[ZoneConfig], lines: list[LineConfig], scale: float = 1.0, anchor: str = "bottom"
    ) -> None:
        self.zones = [_Zone(z, scale) for z in zones]
        self.lines = [_Line(ln, scale) for ln in lines]
        self.anchor = anchor

    def counts(self) -> dict[str, dict[str, int]]:
        return {ln.cfg.id: dict(ln.counts) for ln in self.lines}

    def occupancy(self, tracks: list[Track]) -> dict[str, int]:
        live = {tr.id for tr in tracks}
        return {z.cfg.id: sum(1 for k, s in z.states.items() if k in live and s.inside) for z in self.zones}

    def update(self, tracks: list[Track], t: float, now: dt.datetime) -> list[Alarm]:
        alarms: list[Alarm] = []
        live = {tr.id for tr in tracks}
        for tr in tracks:
            if not (tr.confirmed and tr.updated):
                continue
            box = tr.kf.box
            p = anchor_point(box, self.anchor)
            for zone in self.zones:
                if tr.cls in zone.cfg.classes:
                    alarms.extend(self._zone(zone, tr, box, p, t, now))
            for line in self.lines:
                if tr.cls in line.cfg.classes:
                    alarms.extend(self._line(line, tr, box, p, t))
        for zone in self.zones:  # forget objects that left the scene
            for k in [k for k in zone.states if k not in live]:
                del zone.states[k]
        for line in self.lines:
            for k in [k for k in line.settled if k not in live]:
                del line.settled[k]
        return alarms

    def _zone(self, zone: _Zone, tr: Track, box: Box, p: Point, t: float, now: dt.datetime) -> list[Alarm]:
        cfg = zone.cfg
        st = zone.states.setdefault(tr.id, _ZoneState())
        out: list[Alarm] = []
        if zone.poly.contains(p):
            st.inside += 1
            st.outside = 0
            if st.entered_t is None:
                st.entered_t = t
        else:
            st.inside = 0
            st.outside += 1
            if st.outside >= cfg.inertia_frames:
                st.entered_t = None
            return out
        common = {"zone": cfg.id, "track": tr.id, "class": tr.cls, "score": round(tr.score, 3)}
        armed = cfg.intrusion and not st.intrusion_fired and st.inside >= cfg.inertia_frames
        if armed and in_schedule(cfg.schedule, now):
            st.intrusion_fired = True
            out.append(
                Alarm(
                    "intrusion",
                    cfg.id,
                    tr.id,
                    tr.cls,
                    box,
                    tr.score,
                    t,
                    cfg.priority,
                    {**common, "t_enter": st.entered_t},
                    zone.poly.points,
                )
            )
        dwell = t - st.entered_t
        if cfg.loitering_s is not None and not st.loitering_fired and dwell >= cfg.loitering_s:
            st.loitering_fired = True
            out.append(
                Alarm(
                    "loitering",
                    cfg.id,
                    tr.id,
                    tr.cls,
                    box,
                    tr.score,
                    t,
                    cfg.priority,
                    {**common, "t_enter": st.entered_t, "dwell_s": round(dwell, 3)},
                    zone.poly.points,
                )
            )
        return out

    def _line(self, line: _Line, tr: Track, box: Box, p: Point, t: float) -> list[Alarm]:
        d = side_of(line.a, line.b, p)
        if abs(d) < line.margin:
            return []  # on the line: wait until the object settles on one side
        sign = 1.0 if d > 0 else -1.0
        prev = line.settled.get(tr.id)
        line.settled[tr.id] = (sign, p)
        if prev is None or prev[0] == sign or not segments_intersect(prev[1], p, line.a, line.b):
            return []
        direction = "in" if sign > 0 else "out"
        line.counts[direction] += 1
        if line.cfg.alarm_direction not in (direction, "both"):
            return []
        return [
            Alarm(
                "line_crossing",
                line.cfg.id,
                tr.id,
                tr.cls,
                box,
                tr.score,
                t,
                line.cfg.priority,
                {
                    "line": line.cfg.id,
                    "direction": direction,
                    "track": tr.id,
                    "class": tr.cls,
                    "score": round(tr.score, 3),
                    "counts": dict(line.counts),
                },
                [line.a, line.b],
            )
        ]
