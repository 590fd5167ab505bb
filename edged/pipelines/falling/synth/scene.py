"""Random scene generation: camera geometry, facade, thrown objects and distractors, with ground truth."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edged.pipelines.falling.synth.camera import Facade, PinholeCamera
from edged.pipelines.falling.synth.movers import RATE, Mover, bird_path, fall_path, leaf_path, sway_path

STYLES = ("drop", "throw_up", "throw_out", "light")
DISTRACTORS = ("bird", "leaf", "light_on", "shake", "gain", "flicker", "laundry", "rain")


@dataclass
class ClipSpec:
    seed: int
    width: int = 1280
    height: int = 720
    fps: float = 25.0
    condition: str = "day"  # day | night | rain
    objects: list[str] = field(default_factory=lambda: ["drop"])  # styles, see STYLES
    distractors: list[str] = field(default_factory=list)
    px_range: tuple[float, float] = (3.0, 5.0)
    t_release: tuple[float, float] = (3.0, 5.0)
    release_times: list[float] | None = None  # per object, instead of drawing from t_release
    tail_s: float = 2.0
    duration: float | None = None  # default: long enough for the last object to land + tail
    crf: int = 23


@dataclass
class Scene:
    spec: ClipSpec
    cam: PinholeCamera
    facade: Facade
    movers: list[Mover]
    truth: list[dict[str, Any]]
    light_switches: list[tuple[float, int, int]]  # (t, floor, column)
    shake: tuple[float, float] | None
    gain_step: tuple[float, float] | None  # (t, factor)
    flicker: float  # relative amplitude
    tree: tuple[float, float, float] | None  # (x, y, crown z) world
    mask_movers: list[Mover]
    duration: float


def make_scene(spec: ClipSpec) -> Scene:
    rng = np.random.default_rng(spec.seed)
    distance = rng.uniform(15.0, 30.0)
    storey = rng.uniform(2.8, 3.2)
    floors = int(rng.integers(12, 34))
    pitch = rng.uniform(3.0, 4.2)
    ncols = int(rng.integers(6, 12))
    columns = [i * pitch for i in range(ncols)]
    lit = rng.random((floors, ncols)) < (0.35 if spec.condition == "night" else 0.05)
    facade = Facade(
        x0=-1.0,
        x1=ncols * pitch + 1.0,
        floors=floors,
        storey_m=storey,
        columns_m=columns,
        window_w=min(1.6, pitch - 0.8),
        window_h=1.6,
        sill_m=0.9,
        wall_grey=int(rng.integers(120, 190)),
        lit=lit,
    )
    width_m = ncols * pitch
    cam_x = width_m / 2 + rng.uniform(-4, 4)
    hfov = rng.uniform(55.0, 80.0)
    # aim so the view spans from ~ground to high floors; tall buildings get a steeper view
    aim_z = min(facade.top * rng.uniform(0.35, 0.55), distance * math.tan(math.radians(rng.uniform(30, 50))))
    cam = PinholeCamera(
        spec.width,
        spec.height,
        position=np.array([cam_x, -distance, rng.uniform(1.2, 2.0)]),
        target=np.array([width_m / 2 + rng.uniform(-3, 3), 0.0, aim_z]),
        hfov_deg=hfov,
    )
    movers: list[Mover] = []
    truth: list[dict[str, Any]] = []
    t_last = spec.t_release[1]
    for i, style in enumerate(spec.objects):
        obj = _thrown(spec, rng, cam, facade, style)
        if obj is None:
            continue
        mover, info = obj
        if spec.release_times is not None:
            mover.t0 = spec.release_times[i]
            shift = mover.t0 - info["t_release"]
            info["t_release"] = round(mover.t0, 3)
            info["t_leave"] = round(info["t_leave"] + shift, 3)
        movers.append(mover)
        truth.append(info)
        t_last = max(t_last, mover.t0 + len(mover.path) / RATE)
    duration = spec.duration or (t_last + spec.tail_s)
    duration = max(duration, spec.t_release[1] + spec.tail_s)
    switches: list[tuple[float, int, int]] = []
    mask_movers: list[Mover] = []
    tree = None
    d = set(spec.distractors)
    if "bird" in d:
        for _ in range(int(rng.integers(1, 4))):
            movers.append(_bird(rng, cam, facade, duration))
    if "leaf" in d or "tree" in d:
        tree = (rng.uniform(2, width_m - 2), -rng.uniform(3.0, 0.6 * distance), rng.uniform(7.0, 13.0))
        if "leaf" in d:
            for _ in range(int(rng.integers(2, 6))):
                p0 = np.array([tree[0] + rng.uniform(-2, 2), tree[1] + rng.uniform(-1, 1), tree[2] + 1.0])
                start = rng.uniform(0.5, max(duration - 3.0, 1.0))
                movers.append(Mover("leaf", start, leaf_path(p0, duration - start, rng), 0.06, 40))
    if "light_on" in d:
        for _ in range(int(rng.integers(1, 4))):
            f, c = _visible_window(rng, cam, facade)
            switches.append((rng.uniform(1.0, duration - 0.5), f, c))
    if "laundry" in d:
        f, c = _visible_window(rng, cam, facade)
        x0, z0, x1, _ = facade.window_rect(f, c)
        p0 = np.array([(x0 + x1) / 2, -0.8, z0 - 0.6])
        mask_movers.append(Mover("laundry", 0.0, sway_path(p0, duration, rng, 0.25), 0.6, 220))
    shake = (rng.uniform(0.5, duration / 2), duration) if "shake" in d else None
    gain = (
        (rng.uniform(1.0, duration - 0.5), float(rng.choice([0.8, 0.85, 1.2, 1.25]))) if "gain" in d else None
    )
    flicker = float(rng.uniform(0.01, 0.03)) if "flicker" in d else 0.0
    return Scene(
        spec, cam, facade, movers, truth, switches, shake, gain, flicker, tree, mask_movers, duration
    )


def _visible_window(rng: np.random.Generator, cam: PinholeCamera, facade: Facade) -> tuple[int, int]:
    for _ in range(200):
        f = int(rng.integers(1, facade.floors + 1))
        c = int(rng.integers(0, len(facade.columns_m)))
        x0, z0, x1, z1 = facade.window_rect(f, c)
        uv, _ = cam.project(np.array([[x0, 0, z0], [x1, 0, z1]]))
        if np.all(uv >= 4) and np.all(uv[:, 0] < cam.width - 4) and np.all(uv[:, 1] < cam.height - 4):
            return f, c
    return 1, 0


def _thrown(
    spec: ClipSpec, rng: np.random.Generator, cam: PinholeCamera, facade: Facade, style: str
) -> tuple[Mover, dict[str, Any]] | None:
    """A release from a window in view, its apex in view, and ≥ 2 storeys of fall below it in view."""
    light = style == "light"
    m = 0.04 * cam.height
    for _ in range(400):
        floor = int(rng.integers(3, facade.floors + 1))
        col = int(rng.integers(0, len(facade.columns_m)))
        x0, z0, x1, _z1 = facade.window_rect(floor, col)
        out = rng.uniform(0.1, 1.0)
        p0 = np.array([rng.uniform(x0 + 0.1, x1 - 0.1), -out, z0 + rng.uniform(0.1, 1.0)])
        below = p0 - (0, 0, 2.2 * facade.storey_m)
        uv, _ = cam.project(np.array([p0, below]))
        if not (np.all(uv[:, 0] > m) and np.all(uv[:, 0] < cam.width - m)):
            continue
        if not (uv[0, 1] > m and uv[1, 1] < cam.height - m):
            continue
        v0 = _initial_velocity(rng, style)
        v_term = rng.uniform(1.2, 3.0) if light else rng.uniform(15.0, 40.0)
        path = fall_path(p0, v0, v_term, 40.0, rng, sway=2.0 if light else 0.0)
        apex, _ = cam.project(path[int(np.argmax(path[:, 2]))][None, :])
        if m < apex[0, 1] and m < apex[0, 0] < cam.width - m:
            break
    else:
        return None
    t_rel = rng.uniform(*spec.t_release)
    _, depth = cam.project(p0[None, :])
    size_px = rng.uniform(*spec.px_range)
    size_m = size_px * float(depth[0]) / cam.focal
    if light:
        size_m = max(size_m, 0.2)
    # visible against the wall it falls past (at night the wall is dark, so the object is lit)
    wall = facade.wall_grey * (0.3 if spec.condition == "night" else 1.0)
    contrast = rng.uniform(50.0, 110.0) * rng.choice([-1.0, 1.0])
    if not 5 <= wall + contrast <= 250:
        contrast = -contrast
    grey = int(np.clip(wall + contrast, 5, 250))
    mover = Mover("light" if light else "heavy", t_rel, path, size_m, grey)
    uv, _ = cam.project(path)
    inside = (uv[:, 0] >= 0) & (uv[:, 0] < cam.width) & (uv[:, 1] >= 0) & (uv[:, 1] < cam.height)
    last = int(np.nonzero(inside)[0].max()) if inside.any() else 0
    seen_z = path[: last + 1, 2]
    rel_floor = math.floor(p0[2] / facade.storey_m) + 1
    info: dict[str, Any] = {
        "kind": mover.kind,
        "style": style,
        "t_release": round(t_rel, 3),
        "release_xyz": [round(float(c), 3) for c in p0],
        "out_m": round(out, 3),
        "v0": [round(float(c), 3) for c in v0],
        "v_term": round(v_term, 2),
        "size_m": round(size_m, 3),
        "size_px": round(size_px, 2),
        "floor": rel_floor,
        "window_column": col,
        "t_leave": round(t_rel + last / RATE, 3),
        "drop_in_view_storeys": round(float(seen_z.max() - seen_z.min()) / facade.storey_m, 2),
        "expect": "suspected" if light else "alarm",
    }
    return mover, info


def _bird(rng: np.random.Generator, cam: PinholeCamera, facade: Facade, duration: float) -> Mover:
    direction = float(rng.choice([-1.0, 1.0]))
    speed = rng.uniform(8.0, 20.0)
    y = -rng.uniform(2.0, 12.0)
    z = rng.uniform(5.0, facade.top * 0.8)
    x_start = (facade.x0 - 15.0) if direction > 0 else (facade.x1 + 15.0)
    start = rng.uniform(0.0, max(duration - 4.0, 0.5))
    path = bird_path(np.array([x_start, y, z]), speed, direction, duration - start, rng)
    return Mover("bird", start, path, rng.uniform(0.25, 0.45), int(rng.integers(20, 60)), flap=True)


def _initial_velocity(rng: np.random.Generator, style: str) -> np.ndarray:
    """x along the facade, y (negative: outward, toward the camera), z up; m/s."""
    if style == "drop":
        return np.array([rng.uniform(-0.3, 0.3), -rng.uniform(0.0, 0.5), rng.uniform(-0.3, 0.2)])
    if style == "throw_up":
        return np.array([rng.uniform(-1.5, 1.5), -rng.uniform(0.5, 2.5), rng.uniform(1.5, 4.0)])
    if style == "throw_out":
        return np.array([rng.uniform(-1.5, 1.5), -rng.uniform(2.0, 5.0), rng.uniform(0.0, 2.0)])
    if style == "light":
        return np.array([rng.uniform(-0.5, 0.5), -rng.uniform(0.0, 1.0), 0.0])
    raise ValueError(f"unknown throw style {style!r}")
