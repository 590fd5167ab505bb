"""`edged eval thermal SUITE`: run the screening analytic on every clip of a suite, score it.

A suite is a directory of ``NAME.npz`` + ``NAME.yaml`` (camera section) + ``NAME.truth.json``
(what `edged synth thermal` writes). Decisions are matched to people by the face box at the
decision frame. Scores (issue 5 targets): skin-reading error after drift correction, alarms per
febrile person (duplicates), alarms on afebrile people and on no one (hot objects),
sensitivity (core ≥ 37.5 °C) and specificity (core ≤ 37.0 °C), decision latency after the
first valid face frame, and blackbody-loss detection delay.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edged.config.camera import CameraConfig
from edged.config.loader import load_model
from edged.pipelines.thermal.decisions import Reading
from edged.pipelines.thermal.faces import FaceFinder
from edged.pipelines.thermal.npz import NpzSource
from edged.pipelines.thermal.screening import ThermalScreening


@dataclass
class ClipResult:
    name: str
    readings: list[Reading]
    matched: dict[int, list[Reading]]  # person id -> decisions
    unmatched: list[Reading]
    truth: dict[str, Any]
    loss_delays: list[float | None] = field(default_factory=list)
    frame_s: float = 0.0
    frames: int = 0


def _iou(a: list[float], b: tuple[float, float, float, float]) -> float:
    ix = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def match(r: Reading, people: list[dict[str, Any]], fps: float) -> int | None:
    frame = round(r.t_box * fps)
    best, best_score = None, 0.0
    cx, cy = r.box[0] + r.box[2] / 2, r.box[1] + r.box[3] / 2
    for p in people:
        for i, x, y, w, h in p["faces"]:
            if abs(i - frame) > 1:
                continue
            score = _iou([x, y, w, h], r.box)
            if x <= cx <= x + w and y - 0.5 * h <= cy <= y + 1.5 * h:
                score += 0.5
            if score > best_score:
                best, best_score = p["id"], score
    return best if best_score >= 0.1 else None


def run_clip(npz: Path, finder: FaceFinder | None = None) -> ClipResult:
    camera = load_model(npz.with_suffix(".yaml"), CameraConfig)
    truth = json.loads(npz.with_name(npz.stem + ".truth.json").read_text())
    screening = ThermalScreening(camera, None, finder)
    source = NpzSource(npz)
    while (frame := source.read()) is not None:
        screening.process(frame)
    screening.close()
    matched: dict[int, list[Reading]] = defaultdict(list)
    unmatched: list[Reading] = []
    for r in screening.readings:
        pid = match(r, truth["people"], truth["fps"])
        (matched[pid].append(r) if pid is not None else unmatched.append(r))
    delays: list[float | None] = []
    for ev in truth["blackbody_events"]:
        lost = [
            t for t, state, _ in screening.calibration_log if state == "lost" and t >= ev["t_start"] - 0.05
        ]
        delays.append(lost[0] - ev["t_start"] if lost and lost[0] <= ev["t_end"] else None)
    return ClipResult(
        npz.stem,
        screening.readings,
        dict(matched),
        unmatched,
        truth,
        delays,
        float(sum(screening.frame_seconds)),
        screening.frames,
    )


def _in_bb_event(p: dict[str, Any], truth: dict[str, Any]) -> bool:
    """The person's pass overlaps a blackbody outage (+ relock time): no absolute alarm possible."""
    if not p["faces"]:
        return False
    t0, t1 = p["faces"][0][0] / truth["fps"], p["faces"][-1][0] / truth["fps"]
    return any(e["t_start"] - 1.0 <= t1 and t0 <= e["t_end"] + 2.0 for e in truth["blackbody_events"])


def score(results: list[ClipResult]) -> dict[str, Any]:
    errors, final_errors, body_errors, latencies, delays = [], [], [], [], []
    febrile = febrile_hit = afebrile = afebrile_clear = 0
    alarms_total = duplicates = false_person = object_alarms = glasses_missed = 0
    undecided = 0
    for res in results:
        delays += [d for d in res.loss_delays]
        object_alarms += sum(1 for r in res.unmatched if r.alarm)
        for p in res.truth["people"]:
            decisions = res.matched.get(p["id"], [])
            alarms = sum(1 for r in decisions if r.alarm)
            alarms_total += alarms
            duplicates += max(0, alarms - 1)
            firsts = [r for r in decisions if not r.late]
            if not decisions:
                undecided += 1 if len(p["faces"]) > 10 else 0
                continue
            first = firsts[0] if firsts else decisions[0]
            latencies.append(first.t_decision - first.t_first)
            outage = _in_bb_event(p, res.truth)
            if first.mode == "site_offset" and not p["glasses"] and p["cup"] != "face" and not outage:
                errors.append(first.skin_c - p["skin_c"])
                if first.final_skin_c is not None:
                    final_errors.append(first.final_skin_c - p["skin_c"])
                body_errors.append(first.body_c - p["core_c"])
            if outage:
                continue
            if p["febrile"]:
                febrile += 1
                febrile_hit += alarms > 0
                glasses_missed += p["glasses"] and alarms == 0
            elif p["afebrile"]:
                afebrile += 1
                afebrile_clear += alarms == 0
                false_person += alarms > 0
    err = np.abs(np.array(errors)) if errors else np.array([np.nan])
    found = [d for d in delays if d is not None]
    return {
        "clips": len(results),
        "people": sum(len(r.truth["people"]) for r in results),
        "readings_scored": len(errors),
        "skin_error_within_0.1_c": round(float(np.mean(err <= 0.1)), 4),
        "skin_error_p95_c": round(float(np.percentile(err, 95)), 4),
        "skin_error_mean_c": round(float(np.mean(errors)), 4) if errors else None,
        "final_skin_error_within_0.1_c": (
            round(float(np.mean(np.abs(final_errors) <= 0.1)), 4) if final_errors else None
        ),
        "body_error_p95_c": round(float(np.percentile(np.abs(body_errors), 95)), 4) if body_errors else None,
        "sensitivity": round(febrile_hit / febrile, 4) if febrile else None,
        "febrile_people": febrile,
        "febrile_glasses_missed": int(glasses_missed),
        "specificity": round(afebrile_clear / afebrile, 4) if afebrile else None,
        "afebrile_people": afebrile,
        "alarms": alarms_total + object_alarms,
        "duplicate_alarms": duplicates,
        "duplicate_rate": round(duplicates / alarms_total, 4) if alarms_total else 0.0,
        "afebrile_alarms": false_person,
        "object_alarms": object_alarms,
        "people_never_decided": undecided,
        "decision_latency_p50_s": round(float(np.percentile(latencies, 50)), 3) if latencies else None,
        "decision_latency_p99_s": round(float(np.percentile(latencies, 99)), 3) if latencies else None,
        "blackbody_events": len(delays),
        "blackbody_loss_detected": len(found),
        "blackbody_loss_delay_max_s": round(max(found), 3) if found else None,
        "frame_ms_mean": round(
            1000 * sum(r.frame_s for r in results) / max(1, sum(r.frames for r in results)), 2
        ),
    }


def evaluate_suite(suite: Path, finder: FaceFinder | None = None) -> dict[str, Any]:
    clips = sorted(p for p in suite.glob("*.npz") if p.with_name(p.stem + ".truth.json").exists())
    if not clips:
        raise FileNotFoundError(f"{suite}: no NAME.npz with NAME.yaml and NAME.truth.json")
    return score([run_clip(c, finder) for c in clips])
