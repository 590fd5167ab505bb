"""A pinhole camera looking up at a facade, and the facade it sees (windows, floors, sky).

World frame: facade plane y = 0, x along it, z up, the camera at y < 0 ("in front").
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np


@dataclass
class PinholeCamera:
    width: int
    height: int
    position: np.ndarray  # (x, y, z) metres, y < 0
    target: np.ndarray  # a point on the facade it looks at
    hfov_deg: float
    rotation: np.ndarray = field(init=False)
    focal: float = field(init=False)

    def __post_init__(self) -> None:
        fwd = self.target - self.position
        fwd = fwd / np.linalg.norm(fwd)
        right = np.cross(fwd, np.array([0.0, 0.0, 1.0]))
        right /= np.linalg.norm(right)
        down = np.cross(fwd, right)
        self.rotation = np.vstack([right, down, fwd])
        self.focal = self.width / (2.0 * math.tan(math.radians(self.hfov_deg) / 2.0))

    def project(self, pts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """N×3 world points → (N×2 pixels, N depths)."""
        cam = (np.atleast_2d(pts) - self.position) @ self.rotation.T
        depth = cam[:, 2]
        safe = np.where(depth > 1e-3, depth, 1e-3)
        u = self.focal * cam[:, 0] / safe + (self.width - 1) / 2.0
        v = self.focal * cam[:, 1] / safe + (self.height - 1) / 2.0
        return np.column_stack([u, v]), depth

    def plane_homography(self) -> np.ndarray:
        """Facade plane (x, z) → image pixels."""
        k = np.array(
            [[self.focal, 0, (self.width - 1) / 2], [0, self.focal, (self.height - 1) / 2], [0, 0, 1]]
        )
        t = -self.rotation @ self.position
        return k @ np.column_stack([self.rotation[:, 0], self.rotation[:, 2], t])


@dataclass
class Facade:
    x0: float
    x1: float
    floors: int
    storey_m: float
    columns_m: list[float]  # left edges of window columns
    window_w: float
    window_h: float
    sill_m: float
    wall_grey: int
    lit: np.ndarray  # floors × columns: window lit?

    @property
    def top(self) -> float:
        return self.floors * self.storey_m

    def window_rect(self, floor: int, col: int) -> tuple[float, float, float, float]:
        """(x0, z0, x1, z1) of a window; floor is 1-based."""
        x = self.columns_m[col] + 0.5 * (self.col_pitch - self.window_w)
        z = (floor - 1) * self.storey_m + self.sill_m
        return x, z, x + self.window_w, z + self.window_h

    @property
    def col_pitch(self) -> float:
        return self.columns_m[1] - self.columns_m[0] if len(self.columns_m) > 1 else self.window_w + 1.0


def render_facade(
    facade: Facade, cam: PinholeCamera, rng: np.random.Generator, sky: int, res_m: float = 0.04
) -> np.ndarray:
    """The static scene as the camera sees it (BGR uint8), sky above the roof, a lawn below."""
    tw = int((facade.x1 - facade.x0) / res_m)
    th = int((facade.top + 1.0) / res_m)
    g = facade.wall_grey
    tex = np.empty((th, tw, 3), np.uint8)
    tex[:] = (g - 6, g, g + 4)
    noise = rng.normal(0, 5, (th // 4 + 1, tw // 4 + 1)).astype(np.float32)
    tex = np.clip(tex + cv2.resize(noise, (tw, th))[..., None], 0, 255).astype(np.uint8)

    def to_tex(x: float, z: float) -> tuple[int, int]:
        return int((x - facade.x0) / res_m), int((facade.top + 1.0 - z) / res_m)

    for f in range(1, facade.floors + 1):
        slab = (f - 1) * facade.storey_m
        a, b = to_tex(facade.x0, slab + 0.15)
        c, d = to_tex(facade.x1, slab - 0.05)
        cv2.rectangle(tex, (a, b), (c, d), (g - 25, g - 22, g - 20), -1)
        for col in range(len(facade.columns_m)):
            x0, z0, x1, z1 = facade.window_rect(f, col)
            if x1 > facade.x1:
                continue
            p, q = to_tex(x0, z1)
            r, s = to_tex(x1, z0)
            glass = int(rng.integers(35, 75)) if not facade.lit[f - 1, col] else int(rng.integers(190, 235))
            cv2.rectangle(tex, (p, q), (r, s), (glass + 8, glass + 4, glass), -1)
            cv2.rectangle(tex, (p, q), (r, s), (g - 40, g - 40, g - 40), 2)
    # texture pixel -> facade (x, z) -> image
    tex_to_plane = np.array([[res_m, 0, facade.x0], [0, -res_m, facade.top + 1.0], [0, 0, 1]])
    h = cam.plane_homography() @ tex_to_plane
    out = np.empty((cam.height, cam.width, 3), np.uint8)
    out[:] = (sky + 10, sky, sky - 12)
    # ground: everything below the horizon of z = 0 at the facade is lawn / podium
    cv2.warpPerspective(tex, h, (cam.width, cam.height), dst=out, borderMode=cv2.BORDER_TRANSPARENT)
    return out


def window_polygon(facade: Facade, cam: PinholeCamera, floor: int, col: int) -> np.ndarray:
    x0, z0, x1, z1 = facade.window_rect(floor, col)
    pts = np.array([[x0, 0, z0], [x1, 0, z0], [x1, 0, z1], [x0, 0, z1]], dtype=np.float64)
    uv, _ = cam.project(pts)
    return uv
