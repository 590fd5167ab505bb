"""Score the analytic on a synthetic suite: recall by category, false alarms per hour, floor,
window and latency — the numbers issue 4's targets are stated in."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from edged.config.camera import CameraConfig
from edged.config.loader import load_model
from edged.events import Event
from edged.pipelines.falling.offline import analyze_file

MATCH_SLACK_S = 0.6


def _overlaps(ev: Event, obj: dict[str, Any]) -> bool:
    traj = ev["data"]["trajectory"]
    t0, t1 = traj[0][0], traj[-1][0]
    return t1 >= obj["t_release"] - MATCH_SLACK_S and t0 <= obj["t_leave"] + MATCH_SLACK_S


def score_clip(truth: dict[str, Any], events: list[Event]) -> dict[str, Any]:
    """Match events to truth objects by time; the rest are false alarms / false suspected."""
    used: set[str] = set()
    objects = []
    for obj in truth["objects"]:
        cands = [e for e in events if e["id"] not in used and _overlaps(e, obj)]
        cands.sort(
            key=lambda e: (e["data"]["severity"] != "alarm", abs(e["data"]["t_release"] - obj["t_release"]))
        )
        ev = cands[0] if cands else None
        if ev is not None:
            used.add(ev["id"])
        row: dict[str, Any] = {**obj, "event": None}
        if ev is not None:
            d = ev["data"]
            row["event"] = {
                k: d[k] for k in ("severity", "floor", "floor_range", "window_column", "t_release", "t_alarm")
            }
        objects.append(row)
    extra = [e for e in events if e["id"] not in used]
    return {
        "objects": objects,
        "false_alarms": sum(1 for e in extra if e["data"]["severity"] == "alarm"),
        "false_suspected": sum(1 for e in extra if e["data"]["severity"] == "suspected"),
        "extra_events": [{k: e["data"][k] for k in ("severity", "floor", "t_release")} for e in extra],
    }


def evaluate(suite_dir: Path, progress: bool = False) -> dict[str, Any]:
    manifest = json.loads((suite_dir / "suite.json").read_text(encoding="utf-8"))
    clips = []
    for entry in manifest["clips"]:
        truth = json.loads((suite_dir / f"{entry['name']}.truth.json").read_text(encoding="utf-8"))
        camera = load_model(suite_dir / entry["camera"], CameraConfig)
        result = analyze_file(suite_dir / entry["clip"], camera)
        scored = score_clip(truth, result.events)
        scored.update(name=entry["name"], category=entry["category"], duration_s=truth["duration_s"])
        scored["frame_ms_mean"] = 1000 * sum(result.frame_times) / max(len(result.frame_times), 1)
        clips.append(scored)
        if progress:
            print(f"{entry['name']}: {_brief(scored)}", flush=True)
    return {"suite": manifest.get("suite"), "clips": clips, "summary": summarize(clips)}


def _brief(c: dict[str, Any]) -> str:
    parts = []
    for o in c["objects"]:
        ev = o["event"]
        got = "miss" if ev is None else f"{ev['severity']} floor {ev['floor']} {ev['floor_range']}"
        parts.append(f"{o['style']} floor {o['floor']} ({o['size_px']:.1f}px) -> {got}")
    parts.append(f"FA {c['false_alarms']} FS {c['false_suspected']}")
    return "; ".join(parts)


def _rate(n: int, d: int) -> float | None:
    return round(n / d, 4) if d else None


def summarize(clips: list[dict[str, Any]]) -> dict[str, Any]:
    hours = sum(c["duration_s"] for c in clips) / 3600.0
    distractor_hours = sum(c["duration_s"] for c in clips if c["category"] == "distractors") / 3600.0
    by_cat: dict[str, list[int]] = {}
    floor_n = floor_exact = floor_pm1 = range_n = range_ok = win_n = win_ok = 0
    latencies: list[float] = []
    for c in clips:
        for o in c["objects"]:
            ev = o["event"]
            cat = c["category"]
            hit = ev is not None and (ev["severity"] == o["expect"] or (o["expect"] == "suspected"))
            tally = by_cat.setdefault(cat, [0, 0])
            tally[0] += int(hit)
            tally[1] += 1
            if ev is None or ev["severity"] != "alarm" or o["expect"] != "alarm":
                continue
            latencies.append(ev["t_alarm"] - o["t_leave"])
            if o["style"] == "throw_out":
                range_n += 1
                range_ok += int(ev["floor_range"][0] <= o["floor"] <= ev["floor_range"][1])
            elif o["out_m"] <= 1.0:
                floor_n += 1
                floor_exact += int(ev["floor"] == o["floor"])
                floor_pm1 += int(abs(ev["floor"] - o["floor"]) <= 1)
                range_n += 1
                range_ok += int(ev["floor_range"][0] <= o["floor"] <= ev["floor_range"][1])
            win_n += 1
            win_ok += int(ev["window_column"] == o["window_column"])
    fa = sum(c["false_alarms"] for c in clips)
    fs = sum(c["false_suspected"] for c in clips)
    latencies.sort()
    return {
        "recall": {
            k: {"hit": v[0], "of": v[1], "rate": _rate(v[0], v[1])} for k, v in sorted(by_cat.items())
        },
        "hours": round(hours, 3),
        "distractor_hours": round(distractor_hours, 3),
        "false_alarms": fa,
        "false_alarms_per_hour": round(fa / hours, 3) if hours else None,
        "false_suspected": fs,
        "suspected_per_hour": round(fs / hours, 3) if hours else None,
        "floor_exact": _rate(floor_exact, floor_n),
        "floor_within_1": _rate(floor_pm1, floor_n),
        "floor_range_contains": _rate(range_ok, range_n),
        "window_accuracy": _rate(win_ok, win_n),
        "latency_s": {
            "median": round(latencies[len(latencies) // 2], 3) if latencies else None,
            "max": round(latencies[-1], 3) if latencies else None,
        },
        "frame_ms_mean": round(sum(c["frame_ms_mean"] for c in clips) / max(len(clips), 1), 2),
    }
