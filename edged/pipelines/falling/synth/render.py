"""Render a scene to an H.264 clip, its camera YAML (design.md's keys) and a ground-truth JSON."""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import yaml

from edged.pipelines.falling.synth.camera import render_facade, window_polygon
from edged.pipelines.falling.synth.movers import Mover
from edged.pipelines.falling.synth.scene import ClipSpec, Scene, make_scene

EXPOSURE_S = {"day": 1 / 500, "rain": 1 / 100, "night": 1 / 25}
NOISE_SIGMA = {"day": 2.0, "rain": 3.0, "night": 6.0}


class Renderer:
    def __init__(self, scene: Scene) -> None:
        self.scene = scene
        spec = scene.spec
        self.rng = np.random.default_rng(spec.seed + 7919)
        night = spec.condition == "night"
        base = render_facade(scene.facade, scene.cam, self.rng, sky=40 if night else 215)
        if night:
            base = (base.astype(np.float32) * 0.3).astype(np.uint8)
            for f, c in zip(*np.nonzero(scene.facade.lit), strict=True):
                self._fill_window(base, int(f) + 1, int(c), 200)
        self.base = base
        h, w = base.shape[:2]
        self.noise = (self.rng.normal(0, NOISE_SIGMA[spec.condition], (h + 64, w + 64))).astype(np.int16)
        self.exposure = EXPOSURE_S[spec.condition]

    def _fill_window(self, img: np.ndarray, floor: int, col: int, level: int) -> None:
        poly = window_polygon(self.scene.facade, self.scene.cam, floor, col)
        cv2.fillConvexPoly(
            img, np.round(poly * 16).astype(np.int32), (level, level + 5, level + 10), cv2.LINE_AA, 4
        )

    def frame(self, index: int) -> np.ndarray:
        sc, spec = self.scene, self.scene.spec
        t = index / spec.fps
        img = self.base.copy()
        for t_on, f, c in sc.light_switches:
            if t >= t_on:
                self._fill_window(img, f, c, 225)
        for m in sc.movers:
            if m.kind != "leaf":
                self._draw(img, m, t)
        if sc.tree is not None:
            self._draw_tree(img, t)
        for m in [*sc.movers, *sc.mask_movers]:
            if m.kind in ("leaf", "laundry"):
                self._draw(img, m, t)
        gain = 1.0
        if sc.gain_step and t >= sc.gain_step[0]:
            gain *= sc.gain_step[1]
        if sc.flicker:
            gain *= 1.0 + sc.flicker * math.sin(2 * math.pi * 2.3 * t)
        if abs(gain - 1.0) > 1e-3:
            img = cv2.convertScaleAbs(img, alpha=gain)
        if spec.condition == "rain":
            self._rain(img)
        if sc.shake and sc.shake[0] <= t <= sc.shake[1]:
            dx, dy = self.rng.uniform(-2.0, 2.0, 2)
            shift = np.array([[1, 0, dx], [0, 1, dy]], np.float32)
            img = cv2.warpAffine(img, shift, (img.shape[1], img.shape[0]), borderMode=cv2.BORDER_REPLICATE)
        oy, ox = self.rng.integers(0, 64, 2)
        h, w = img.shape[:2]
        noise = self.noise[oy : oy + h, ox : ox + w]
        out = img.astype(np.int16)
        out += noise[..., None]
        return np.clip(out, 0, 255).astype(np.uint8)

    def _draw(self, img: np.ndarray, m: Mover, t: float) -> None:
        pts = m.window(t, t + self.exposure)
        if len(pts) == 0:
            return
        uv, depth = self.scene.cam.project(pts)
        if np.any(depth <= 0.5):
            return
        diam = m.size_m * self.scene.cam.focal / float(depth.mean())
        if m.flap:
            diam *= 0.6 + 0.4 * abs(math.sin(2 * math.pi * 6.0 * t))
        h, w = img.shape[:2]
        pad = int(diam) + 3
        x0, y0 = int(uv[:, 0].min()) - pad, int(uv[:, 1].min()) - pad
        x1, y1 = int(uv[:, 0].max()) + pad + 1, int(uv[:, 1].max()) + pad + 1
        if x1 <= 0 or y1 <= 0 or x0 >= w or y0 >= h:
            return
        xa, ya, xb, yb = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
        mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
        local = np.round((uv - (x0, y0)) * 16).astype(np.int32)
        thick = max(1, round(diam))
        if len(local) == 1 or np.ptp(uv, axis=0).max() < 0.5:
            cv2.circle(mask, tuple(local[0]), max(1, round(diam * 8)), 255, -1, cv2.LINE_AA, 4)
        else:
            cv2.polylines(mask, [local], False, 255, thick, cv2.LINE_AA, 4)
        streak = float(np.hypot(*(uv[-1] - uv[0])))
        cover = min(1.0, diam) * min(1.0, (diam + 1.0) / (streak + diam + 1.0) * 1.5)
        alpha = mask[ya - y0 : yb - y0, xa - x0 : xb - x0].astype(np.float32) * (cover / 255.0)
        roi = img[ya:yb, xa:xb].astype(np.float32)
        roi += (m.grey - roi) * alpha[..., None]
        img[ya:yb, xa:xb] = roi.astype(np.uint8)

    def _tree_crown(self, t: float) -> tuple[np.ndarray, float]:
        assert self.scene.tree is not None
        x, y, z = self.scene.tree
        sway = 0.3 * math.sin(2 * math.pi * 0.4 * t)
        uv, depth = self.scene.cam.project(np.array([[x + sway, y, z]]))
        r = 3.0 * self.scene.cam.focal / float(depth[0])
        return uv[0], r

    def _draw_tree(self, img: np.ndarray, t: float) -> None:
        assert self.scene.tree is not None
        c, r = self._tree_crown(t)
        x, y, _ = self.scene.tree
        base, _ = self.scene.cam.project(np.array([[x, y, 0.0]]))
        cv2.line(
            img, (int(c[0]), int(c[1])), (int(base[0, 0]), int(base[0, 1])), (30, 40, 50), max(2, int(r / 8))
        )
        for k in range(5):
            a = 2 * math.pi * k / 5 + t * 0.5
            cc = (int(c[0] + 0.4 * r * math.cos(a)), int(c[1] + 0.3 * r * math.sin(a)))
            cv2.circle(img, cc, int(r * 0.7), (40, 90 + 10 * k, 50), -1, cv2.LINE_AA)

    def tree_mask(self) -> list[list[float]]:
        c, r = self._tree_crown(0.0)
        x, y, _ = self.scene.tree or (0, 0, 0)
        base, _ = self.scene.cam.project(np.array([[x, y, 0.0]]))
        k = 1.5 * r
        return [
            [float(c[0] - k), float(c[1] - k)],
            [float(c[0] + k), float(c[1] - k)],
            [float(c[0] + k), float(max(base[0, 1], c[1]) + 5)],
            [float(c[0] - k), float(max(base[0, 1], c[1]) + 5)],
        ]

    def laundry_masks(self) -> list[list[list[float]]]:
        out = []
        for m in self.scene.mask_movers:
            uv, _ = self.scene.cam.project(m.path[:: max(len(m.path) // 50, 1)])
            x0, y0 = uv.min(axis=0) - 12
            x1, y1 = uv.max(axis=0) + 12
            out.append(
                [
                    [float(x0), float(y0)],
                    [float(x1), float(y0)],
                    [float(x1), float(y1)],
                    [float(x0), float(y1)],
                ]
            )
        return out

    def _rain(self, img: np.ndarray) -> None:
        h, w = img.shape[:2]
        over = np.zeros_like(img)
        n = int(self.rng.integers(120, 250) * w * h / (1280 * 720))
        xs, ys = self.rng.uniform(0, w, n), self.rng.uniform(0, h, n)
        ln = self.rng.uniform(12, 40, n) * h / 720
        ang = np.radians(self.rng.normal(95, 5, n))
        lv = self.rng.integers(15, 40, n)
        for x, y, length, a, v in zip(xs, ys, ln, ang, lv, strict=True):
            p2 = (int(x + length * math.cos(a)), int(y + length * math.sin(a)))
            cv2.line(over, (int(x), int(y)), p2, (int(v), int(v), int(v)), 1)
        cv2.add(img, over, dst=img)


def camera_yaml(scene: Scene, renderer: Renderer, video_name: str, camera_id: str) -> dict[str, Any]:
    cam, fac = scene.cam, scene.facade
    rng = np.random.default_rng(scene.spec.seed + 31)
    pts = []
    for x in np.linspace(fac.x0 + 1, fac.x1 - 1, 7):
        for z in np.linspace(0.5, fac.top - 0.5, 15):
            uv, _ = cam.project(np.array([[x, 0.0, z]]))
            u, v = uv[0]
            if 10 < u < cam.width - 10 and 10 < v < cam.height - 10:
                pts.append((float(u), float(v), float(x), float(z)))
    if len(pts) < 4:
        raise ValueError("scene has too little facade in view")
    chosen = _spread(pts, 6)
    points = [
        [round(u + rng.normal(0, 0.3), 2), round(v + rng.normal(0, 0.3), 2), round(x, 3), round(z, 3)]
        for u, v, x, z in chosen
    ]
    masks: list[list[list[float]]] = []
    if scene.tree is not None:
        masks.append(renderer.tree_mask())
    masks.extend(renderer.laundry_masks())
    return {
        "id": camera_id,
        "source": video_name,
        "fps": scene.spec.fps,
        "facade": {
            "points": points,
            "storey_height_m": round(fac.storey_m, 4),
            "ground_z_m": 0.0,
            "window_columns_m": [round(c, 4) for c in fac.columns_m],
        },
        "masks": [[[round(a, 1), round(b, 1)] for a, b in poly] for poly in masks],
    }


def _spread(pts: list[tuple[float, float, float, float]], n: int) -> list[tuple[float, float, float, float]]:
    """Pick points far apart in the image (farthest-point sampling) for a well-conditioned fit."""
    arr = np.array([(p[0], p[1]) for p in pts])
    chosen = [int(np.argmin(arr[:, 0] + arr[:, 1]))]
    for _ in range(min(n, len(pts)) - 1):
        d = np.min(np.linalg.norm(arr[:, None, :] - arr[chosen][None, :, :], axis=2), axis=1)
        chosen.append(int(np.argmax(d)))
    return [pts[i] for i in chosen]


def write_clip(spec: ClipSpec, out_dir: Path, name: str) -> dict[str, Any]:
    """Render one clip; returns its manifest entry (paths relative to out_dir)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    scene = make_scene(spec)
    renderer = Renderer(scene)
    video = out_dir / f"{name}.mp4"
    n = round(scene.duration * spec.fps)
    cmd = [
        "ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
        "-f", "rawvideo", "-pix_fmt", "bgr24", "-s", f"{spec.width}x{spec.height}", "-r", f"{spec.fps}",
        "-i", "pipe:0", "-c:v", "libx264", "-preset", "veryfast", "-crf", str(spec.crf),
        "-pix_fmt", "yuv420p", "-g", str(int(spec.fps * 2)), str(video),
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE)
    assert proc.stdin is not None
    try:
        for i in range(n):
            proc.stdin.write(renderer.frame(i).tobytes())
    finally:
        proc.stdin.close()
        if proc.wait() != 0:
            raise RuntimeError(f"ffmpeg failed writing {video}")
    cam_doc = camera_yaml(scene, renderer, video.name, f"synth-{spec.seed}")
    (out_dir / f"{name}.yaml").write_text(yaml.safe_dump(cam_doc, sort_keys=False), encoding="utf-8")
    truth = {
        "clip": video.name,
        "camera": f"{name}.yaml",
        "condition": spec.condition,
        "duration_s": round(n / spec.fps, 3),
        "fps": spec.fps,
        "size": [spec.width, spec.height],
        "distractors": sorted(set(spec.distractors)),
        "camera_distance_m": round(float(-scene.cam.position[1]), 2),
        "objects": scene.truth,
    }
    (out_dir / f"{name}.truth.json").write_text(json.dumps(truth, indent=1), encoding="utf-8")
    return {"name": name, **{k: truth[k] for k in ("clip", "camera", "condition", "duration_s")}}
