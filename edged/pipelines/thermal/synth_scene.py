"""The physical model behind `edged synth thermal`: scene temperatures, camera, people.

A pinhole thermal camera (1.7 m high, level) looks at an entrance. People walk through with a
known core temperature; the inner canthus reads core - (skin->body offset ± person spread),
the rest of the face is cooler in the usual pattern (forehead, cheeks, cold nose), hair and
clothes cooler still. The camera adds an offset error that drifts (°C/h), steps at each shutter
(FFC, frames frozen meanwhile), a small gain error, optics blur and NETD noise. A blackbody at
its set point sits in view. Rendering is 4x supersampled so small spots are area-correct.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np

SS = 4  # supersampling factor
FACE_W_M = 0.15
FACE_H_M = 0.20
CAM_H_M = 1.7


@dataclass
class Person:
    id: int
    core_c: float
    skin_c: float  # true inner-canthus temperature
    t_enter: float
    t_exit: float
    start: tuple[float, float]  # (lateral x m, distance m) at t_enter
    end: tuple[float, float]  # at t_exit
    height_m: float = 1.6  # of the eyes
    glasses: bool = False
    cup: str | None = None  # None | "hand" | "face": a hot drink carried
    cup_c: float = 60.0
    clothes_c: float = 28.0
    hair_c: float = 29.0

    def at(self, t: float) -> tuple[float, float] | None:
        if not self.t_enter <= t <= self.t_exit:
            return None
        a = (t - self.t_enter) / max(self.t_exit - self.t_enter, 1e-6)
        return (
            self.start[0] + a * (self.end[0] - self.start[0]),
            self.start[1] + a * (self.end[1] - self.start[1]),
        )


@dataclass
class BlackbodyEvent:
    kind: str  # occluded | removed | moved | unstable
    t_start: float
    t_end: float


@dataclass
class Camera:
    width: int = 256
    height: int = 192
    fps: float = 15.0
    hfov_deg: float = 40.0
    netd_c: float = 0.05
    fpn_c: float = 0.02
    blur_px: float = 0.5
    offset0_c: float = 0.0  # camera reading error at t = 0
    drift_c_per_h: float = 1.0
    gain_error: float = 0.0  # relative responsivity error around 35 °C
    ffc_period_s: float = 30.0
    ffc_duration_s: float = 0.4
    ffc_step_sd_c: float = 0.15
    gain: float = 0.01  # kelvin per count in the file
    offset: float = 0.0

    @property
    def focal_px(self) -> float:
        return self.width / 2 / math.tan(math.radians(self.hfov_deg) / 2)


@dataclass
class Scene:
    camera: Camera
    duration_s: float
    people: list[Person]
    ambient_c: float = 24.0
    bb_set_point_c: float = 35.0
    bb_box: tuple[int, int, int, int] = (222, 10, 22, 22)  # emitter x, y, w, h (pixels)
    bb_events: list[BlackbodyEvent] = field(default_factory=list)
    static_hot: list[tuple[int, int, int, int, float]] = field(default_factory=list)  # x, y, w, h, °C

    @property
    def bb_roi(self) -> tuple[int, int, int, int]:
        x, y, w, h = self.bb_box
        m = max(3, w // 4)
        return (x + m, y + m, w - 2 * m, h - 2 * m)


def face_box(cam: Camera, p: Person, pos: tuple[float, float]) -> tuple[float, float, float, float]:
    """Face box (x, y, w, h) in pixels for a person at (lateral, distance)."""
    f = cam.focal_px
    x, d = pos
    cx = cam.width / 2 + f * x / d
    cy = cam.height / 2 + f * (CAM_H_M - p.height_m) / d + f * 0.02 / d  # eyes sit above the face centre
    w, h = f * FACE_W_M / d, f * FACE_H_M / d
    return (cx - w / 2, cy - h / 2, w, h)


def _ell(img: np.ndarray, cx: float, cy: float, ax: float, ay: float, value: float) -> None:
    """Filled ellipse on the supersampled canvas; coordinates in output pixels."""
    s = SS * 16  # 4 fractional bits on top of the supersampling
    center = (round((cx * SS + SS / 2 - 0.5) * 16), round((cy * SS + SS / 2 - 0.5) * 16))
    axes = (max(1, round(ax * s)), max(1, round(ay * s)))
    cv2.ellipse(img, center, axes, 0, 0, 360, float(value), -1, cv2.LINE_8, 4)


def _rect(img: np.ndarray, x: float, y: float, w: float, h: float, value: float) -> None:
    p0 = (round(x * SS * 16), round(y * SS * 16))
    p1 = (round((x + w) * SS * 16) - 16, round((y + h) * SS * 16) - 16)
    cv2.rectangle(img, p0, p1, float(value), -1, cv2.LINE_8, 4)


def draw_person(img: np.ndarray, cam: Camera, p: Person, pos: tuple[float, float]) -> None:
    x, y, w, h = face_box(cam, p, pos)
    cx, cy = x + w / 2, y + h / 2
    f_d = cam.focal_px / pos[1]
    s = p.skin_c
    # torso and neck
    _rect(img, cx - 0.24 * f_d, cy + 0.6 * h, 0.48 * f_d, 1.2 * f_d, p.clothes_c)
    _rect(img, cx - 0.28 * w, cy + 0.35 * h, 0.56 * w, 0.4 * h, s - 1.6)
    # head: hair cap, then face
    _ell(img, cx, cy - 0.08 * h, 0.56 * w, 0.58 * h, p.hair_c)
    _ell(img, cx, cy + 0.05 * h, 0.5 * w, 0.5 * h, s - 1.3)  # cheeks / jaw
    _ell(img, cx, cy - 0.22 * h, 0.42 * w, 0.16 * h, s - 0.6)  # forehead
    eye_y = cy - 0.04 * h
    for side in (-1, 1):
        _ell(img, cx + side * 0.2 * w, eye_y, 0.1 * w, 0.05 * h, s - 0.5)  # eye surface
        _ell(img, cx + side * 0.085 * w, eye_y, 0.07 * w, 0.07 * w, s)  # inner canthus
    _ell(img, cx, cy + 0.12 * h, 0.07 * w, 0.1 * h, s - 2.5)  # nose (cold)
    _ell(img, cx, cy + 0.3 * h, 0.16 * w, 0.05 * h, s - 1.0)  # mouth
    if p.glasses:  # LWIR-opaque lenses at near-ambient temperature hide the canthi
        for side in (-1, 1):
            _ell(img, cx + side * 0.19 * w, eye_y, 0.17 * w, 0.11 * h, p.clothes_c + 1.0)
        _rect(img, cx - 0.04 * w, eye_y - 0.02 * h, 0.08 * w, 0.03 * h, p.clothes_c + 1.0)
    if p.cup == "hand":
        _ell(img, cx + 0.35 * f_d, cy + 1.4 * h, 0.04 * f_d, 0.055 * f_d, p.cup_c)
    elif p.cup == "face":
        _ell(img, cx + 0.05 * w, cy + 0.45 * h, 0.04 * f_d, 0.055 * f_d, p.cup_c)


def render_true(scene: Scene, t: float) -> np.ndarray:
    """True scene temperatures (°C) at time t, at output resolution."""
    cam = scene.camera
    w, h = cam.width, cam.height
    canvas = np.empty((h * SS, w * SS), np.float32)
    grad = np.linspace(scene.ambient_c + 0.8, scene.ambient_c - 0.8, h * SS, dtype=np.float32)
    canvas[:] = grad[:, None]
    bx, by, bw, bh = scene.bb_box
    event = next((e for e in scene.bb_events if e.t_start <= t < e.t_end), None)
    bb_temp = scene.bb_set_point_c
    if event is not None and event.kind == "unstable":
        bb_temp += 0.4 * math.sin(2 * math.pi * 1.5 * (t - event.t_start))
    if event is not None and event.kind == "moved":
        bx += bw // 2
    if event is None or event.kind != "removed":
        _rect(canvas, bx - 2, by - 2, bw + 4, bh + 4, scene.ambient_c + 2.0)  # housing
        _rect(canvas, bx, by, bw, bh, bb_temp)
    for x, y, ow, oh, temp in scene.static_hot:
        _rect(canvas, x, y, ow, oh, temp)
    visible = [(p, pos) for p in scene.people if (pos := p.at(t)) is not None]
    for p, pos in sorted(visible, key=lambda v: -v[1][1]):  # far first: near people occlude
        draw_person(canvas, cam, p, pos)
    if event is not None and event.kind == "occluded":  # someone's shoulder in front of it
        _rect(canvas, bx - 6, by - 4, bw * 0.8 + 6, bh + 10, 29.0)
    img = cv2.resize(canvas, (w, h), interpolation=cv2.INTER_AREA)
    if cam.blur_px > 0:
        img = cv2.GaussianBlur(img, (0, 0), cam.blur_px)
    return img
