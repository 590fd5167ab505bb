"""Things that move in a synthetic clip: thrown objects (with drag), birds, leaves, laundry.

Each mover is integrated once at `RATE` Hz into a world-space path; rendering slices the path
over the exposure of each frame, so blur and timing follow the physics exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

G = 9.81
RATE = 250.0


@dataclass
class Mover:
    kind: str  # "heavy", "light", "bird", "leaf", "laundry"
    t0: float  # first time of the path
    path: np.ndarray  # N×3 world positions at RATE Hz from t0
    size_m: float
    grey: int
    flap: bool = False

    def window(self, t_a: float, t_b: float) -> np.ndarray:
        i = round((t_a - self.t0) * RATE)
        j = round((t_b - self.t0) * RATE) + 1
        if j <= 0 or i >= len(self.path):
            return np.empty((0, 3))
        return self.path[max(i, 0) : min(j, len(self.path))]

    def at(self, t: float) -> np.ndarray | None:
        i = round((t - self.t0) * RATE)
        return self.path[i] if 0 <= i < len(self.path) else None


def fall_path(
    p0: np.ndarray,
    v0: np.ndarray,
    v_term: float,
    duration: float,
    rng: np.random.Generator,
    sway: float = 0.0,
) -> np.ndarray:
    """Quadratic drag (a = g·(1 - |v|v/v_t²)), until the ground; light objects sway sideways."""
    dt = 1.0 / RATE
    n = int(duration * RATE)
    out = np.empty((n, 3))
    p, v = p0.astype(float).copy(), v0.astype(float).copy()
    k = G / (v_term * v_term)
    phase, freq = rng.uniform(0, 2 * np.pi), rng.uniform(0.4, 1.0)
    for i in range(n):
        out[i] = p
        a = np.array([0.0, 0.0, -G]) - k * np.linalg.norm(v) * v
        if sway > 0:
            a[0] += sway * np.sin(2 * np.pi * freq * i * dt + phase)
        v = v + a * dt
        p = p + v * dt
        if p[2] <= 0.0:
            return out[: i + 1]
    return out


def bird_path(
    p0: np.ndarray, speed: float, direction: float, duration: float, rng: np.random.Generator
) -> np.ndarray:
    """Mostly horizontal flight with gentle undulation and an occasional slow climb or glide."""
    n = int(duration * RATE)
    t = np.arange(n) / RATE
    climb = rng.uniform(-1.2, 1.2)
    out = np.empty((n, 3))
    out[:, 0] = p0[0] + direction * speed * t
    out[:, 1] = p0[1] + rng.uniform(-1, 1) * t
    out[:, 2] = p0[2] + climb * t + 0.4 * np.sin(2 * np.pi * rng.uniform(0.3, 1.0) * t)
    return out


def leaf_path(p0: np.ndarray, duration: float, rng: np.random.Generator) -> np.ndarray:
    """A leaf: terminal speed ~1–2 m/s, wide side-to-side flutter, drifted by the wind."""
    n = int(duration * RATE)
    t = np.arange(n) / RATE
    vz, wind = rng.uniform(0.8, 2.0), rng.uniform(-1.5, 1.5)
    amp, freq = rng.uniform(0.3, 1.0), rng.uniform(0.5, 1.5)
    out = np.empty((n, 3))
    out[:, 0] = p0[0] + wind * t + amp * np.sin(2 * np.pi * freq * t)
    out[:, 1] = p0[1] + 0.3 * np.sin(2 * np.pi * freq * 0.5 * t)
    out[:, 2] = p0[2] - vz * t - 0.4 * np.cos(4 * np.pi * freq * t) + 0.4
    keep = out[:, 2] > 0
    return out[: max(int(np.argmin(keep)) if not keep.all() else n, 1)]


def sway_path(p0: np.ndarray, duration: float, rng: np.random.Generator, amp: float) -> np.ndarray:
    """Laundry / branches swinging in place."""
    n = int(duration * RATE)
    t = np.arange(n) / RATE
    out = np.repeat(p0[None, :].astype(float), n, axis=0)
    out[:, 0] += amp * np.sin(2 * np.pi * rng.uniform(0.3, 0.8) * t + rng.uniform(0, 6))
    out[:, 2] += 0.3 * amp * np.sin(2 * np.pi * rng.uniform(0.5, 1.2) * t)
    return out
