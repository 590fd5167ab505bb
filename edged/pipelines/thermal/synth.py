"""`edged synth thermal`: clips with ground truth (npz + CAMERA.yaml + truth JSON per clip).

Clip kinds: `walkthrough` (people one after another towards the camera), `crossing` (two people
crossing paths), `cup` (hot drinks, a hot kettle), `glasses`, `blackbody` (the reference is
occluded / removed / moved / unstable for a while) and `mixed` (a random pick per clip).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from edged.pipelines.thermal.frame import to_counts
from edged.pipelines.thermal.npz import save_npz
from edged.pipelines.thermal.synth_scene import BlackbodyEvent, Camera, Person, Scene, face_box, render_true

KINDS = ("walkthrough", "crossing", "cup", "glasses", "blackbody")  # `mixed` cycles these
EXTRA_KINDS = ("queue",)  # a busy entrance, for the benchmark
SKIN_TO_CORE_C = 1.2


def draw_core(rng: np.random.Generator, p_febrile: float = 0.3) -> float:
    u = rng.random()
    if u < p_febrile:
        return float(rng.uniform(37.5, 39.5))
    if u < p_febrile + 0.1:
        return float(rng.uniform(37.0, 37.5))  # grey zone: neither sensitivity nor specificity
    return float(np.clip(rng.normal(36.7, 0.2), 36.0, 37.0))


def make_person(
    rng: np.random.Generator,
    pid: int,
    t0: float,
    t1: float,
    start: tuple[float, float],
    end: tuple[float, float],
    core: float | None = None,
    person_sd: float = 0.1,
) -> Person:
    core_c = draw_core(rng) if core is None else core
    skin = core_c - SKIN_TO_CORE_C - float(rng.normal(0, person_sd))
    return Person(
        pid,
        core_c,
        skin,
        t0,
        t1,
        start,
        end,
        height_m=float(rng.uniform(1.5, 1.7)),
        clothes_c=float(rng.uniform(26.0, 30.5)),
        hair_c=float(rng.uniform(27.5, 30.0)),
    )


def plan_scene(
    kind: str,
    rng: np.random.Generator,
    duration_s: float = 16.0,
    cam: Camera | None = None,
    camera_overrides: dict[str, Any] | None = None,
) -> Scene:
    cam = cam or Camera(
        offset0_c=float(rng.uniform(-1.5, 1.5)),
        drift_c_per_h=float(rng.choice([-1.0, 1.0])),
        gain_error=float(rng.uniform(-0.01, 0.01)),
        ffc_period_s=float(rng.uniform(8, 14)),
    )
    for key, value in (camera_overrides or {}).items():
        setattr(cam, key, type(getattr(cam, key))(value))
    people: list[Person] = []
    scene = Scene(cam, duration_s, people, ambient_c=float(rng.uniform(20.0, 27.0)))
    scene.bb_box = (cam.width - 34, 10, 22, 22)  # top right, whatever the resolution
    if kind == "crossing":
        fever_first = bool(rng.random() < 0.5)
        cores = [float(rng.uniform(37.8, 39.0)), float(rng.uniform(36.3, 36.9))]
        if not fever_first:
            cores.reverse()
        t0 = 1.0
        people.append(make_person(rng, 1, t0, t0 + 6.0, (-1.6, 2.0), (1.6, 2.0), cores[0]))
        people.append(make_person(rng, 2, t0 + 0.2, t0 + 6.2, (1.6, 2.4), (-1.6, 2.4), cores[1]))
        return scene
    t = float(rng.uniform(0.3, 1.0))
    pid = 0
    spacing = (0.25, 0.4) if kind == "queue" else (0.45, 0.9)  # a queue: 2-3 people in view at once
    while t + 3.5 < duration_s:
        pid += 1
        walk = float(rng.uniform(2.8, 3.6))
        lateral = float(rng.uniform(-0.25, 0.25))
        exit_side = float(rng.choice([-0.7, 0.7]))
        p = make_person(rng, pid, t, t + walk, (lateral, 4.5), (lateral + exit_side, 1.0))
        if kind == "glasses" or (kind == "walkthrough" and rng.random() < 0.1):
            p.glasses = True
        if kind == "cup":
            p.cup = str(rng.choice(["hand", "face"]))
            p.cup_c = float(rng.uniform(50.0, 70.0))
            p.core_c = float(np.clip(rng.normal(36.6, 0.2), 36.0, 37.0))
            p.skin_c = p.core_c - SKIN_TO_CORE_C
        people.append(p)
        t += walk * float(rng.uniform(*spacing))  # the next one is already walking in
    if kind == "cup":
        scene.static_hot.append((20, 130, 14, 18, float(rng.uniform(60, 90))))  # a kettle on a counter
    if kind == "blackbody":
        what = str(rng.choice(["occluded", "removed", "moved", "unstable"]))
        start = float(rng.uniform(4.0, duration_s - 6.0))
        scene.bb_events.append(BlackbodyEvent(what, start, start + float(rng.uniform(2.0, 4.0))))
    return scene


def render_clip(
    scene: Scene, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
    cam = scene.camera
    n = round(scene.duration_s * cam.fps)
    ts = np.arange(n, dtype=np.float64) / cam.fps
    frames = np.empty((n, cam.height, cam.width), np.uint16)
    ffc = np.zeros(n, bool)
    fpn = rng.normal(0, cam.fpn_c, (cam.height, cam.width)).astype(np.float32)
    shutters: list[tuple[float, float, float]] = []  # (start, end, step)
    t_ffc = float(rng.uniform(2.0, cam.ffc_period_s))
    while t_ffc < scene.duration_s:
        shutters.append((t_ffc, t_ffc + cam.ffc_duration_s, float(rng.normal(0, cam.ffc_step_sd_c))))
        t_ffc += cam.ffc_period_s
    for i, t in enumerate(ts):
        if any(a <= t < b for a, b, _ in shutters) and i > 0:
            frames[i] = frames[i - 1]  # the image freezes while the shutter is closed
            ffc[i] = True
            continue
        true = render_true(scene, float(t))
        error = cam.offset0_c + cam.drift_c_per_h * t / 3600 + sum(s for _a, b, s in shutters if b <= t)
        reading = true + error + cam.gain_error * (true - 35.0) + fpn
        reading += rng.normal(0, cam.netd_c, true.shape).astype(np.float32)
        frames[i] = to_counts(reading, cam.gain, cam.offset)
    truth = {
        "version": 1,
        "fps": cam.fps,
        "duration_s": scene.duration_s,
        "focal_px": cam.focal_px,
        "people": [_person_truth(scene, p, ts) for p in scene.people],
        "blackbody_events": [asdict(e) for e in scene.bb_events],
        "static_hot": [list(s) for s in scene.static_hot],
        "shutters": [[a, b] for a, b, _ in shutters],
        "camera_model": asdict(cam),
    }
    return frames, ts, ffc, truth


def _person_truth(scene: Scene, p: Person, ts: np.ndarray) -> dict[str, Any]:
    cam = scene.camera
    boxes = []
    for i, t in enumerate(ts):
        pos = p.at(float(t))
        if pos is None:
            continue
        x, y, w, h = face_box(cam, p, pos)
        if x + w > 0 and x < cam.width and y + h > 0 and y < cam.height:
            boxes.append([i, round(x, 2), round(y, 2), round(w, 2), round(h, 2)])
    return {
        "id": p.id,
        "core_c": round(p.core_c, 3),
        "skin_c": round(p.skin_c, 3),
        "febrile": p.core_c >= 37.5,
        "afebrile": p.core_c <= 37.0,
        "glasses": p.glasses,
        "cup": p.cup,
        "faces": boxes,
    }


def camera_section(name: str, npz_name: str, scene: Scene) -> dict[str, Any]:
    """Only design.md's fixed keys: what an outside tool would write."""
    return {
        "id": name,
        "source": npz_name,
        "fps": scene.camera.fps,
        "thermal": {
            "blackbody": {"roi": list(scene.bb_roi), "set_point_c": scene.bb_set_point_c},
            "threshold_c": 37.3,
            "skin_offset_c": SKIN_TO_CORE_C,
        },
    }


def write_clip(out_dir: Path, name: str, scene: Scene, rng: np.random.Generator) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    frames, ts, ffc, truth = render_clip(scene, rng)
    cam = scene.camera
    save_npz(out_dir / f"{name}.npz", frames, ts, cam.gain, cam.offset, ffc)
    (out_dir / f"{name}.yaml").write_text(
        yaml.safe_dump(camera_section(name, f"{name}.npz", scene), sort_keys=False)
    )
    (out_dir / f"{name}.truth.json").write_text(json.dumps(truth))
    return out_dir / f"{name}.npz"


def write_suite(
    out_dir: Path,
    clips: int,
    kind: str = "mixed",
    seed: int = 0,
    duration_s: float = 16.0,
    camera_overrides: dict[str, Any] | None = None,
) -> list[Path]:
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(clips):
        k = KINDS[i % len(KINDS)] if kind == "mixed" else kind
        scene = plan_scene(k, rng, duration_s, camera_overrides=camera_overrides)
        paths.append(write_clip(out_dir, f"clip{i:03d}-{k}", scene, rng))
    return paths
