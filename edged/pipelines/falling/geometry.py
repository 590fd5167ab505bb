"""Facade calibration: image pixels ↔ facade plane metres, camera position, floor and window column.

The calibration (design.md) is a set of ≥ 4 correspondences image (u, v) → facade plane
(x along, z up). From the homography we also recover the camera centre relative to the facade
(principal point at the image centre, square pixels, focal length from the homography's
orthogonality constraints). That is what turns "the object projects to z_p on the facade" into
an honest floor range: an object d metres in front of the facade projects further from the
camera's own height by the factor D / (D - d), so 1 m out reads ~2 m too high on a steep ray.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from edged.config.facade import FacadeConfig

# How far in front of the facade a release can be: a window sill / arm's reach is < 1 m,
# a balcony or an outward throw a little more. The floor estimate assumes `RELEASE_D_EST_M`.
RELEASE_D_MAX_M = 1.6
RELEASE_D_EST_M = 0.4
# A release that was not seen (the object entered from the top of the view, typically an
# outward throw that rose out of it first) is extrapolated; by then it may be metres out.
UNSEEN_D_MAX_M = 5.0
UNSEEN_D_EST_M = 2.0


@dataclass(frozen=True, slots=True)
class CameraPose:
    """Camera centre in facade coordinates: x along, z up, distance in front of the plane."""

    x: float
    z: float
    distance: float
    focal_px: float
    estimated: bool  # False: focal length could not be recovered, a default was assumed


class FacadeGeometry:
    def __init__(self, cfg: FacadeConfig, image_size: tuple[int, int]) -> None:
        self.cfg = cfg
        self.width, self.height = image_size
        pts = np.asarray(cfg.points, dtype=np.float64)
        img, plane = pts[:, :2], pts[:, 2:]
        h_ip, _ = cv2.findHomography(img, plane, 0)
        if h_ip is None or not np.all(np.isfinite(h_ip)):
            raise ValueError("facade.points do not define a homography (collinear or repeated points?)")
        self.img_to_plane = h_ip
        self.plane_to_img = np.linalg.inv(h_ip)
        self.pose = self._camera_pose()

    # ---- mapping -------------------------------------------------------------------------
    def to_plane(self, uv: np.ndarray) -> np.ndarray:
        """N×2 pixels → N×2 facade (x, z) metres."""
        pts = np.asarray(uv, dtype=np.float64).reshape(-1, 1, 2)
        return cv2.perspectiveTransform(pts, self.img_to_plane).reshape(-1, 2)

    def to_image(self, xz: np.ndarray) -> np.ndarray:
        pts = np.asarray(xz, dtype=np.float64).reshape(-1, 1, 2)
        return cv2.perspectiveTransform(pts, self.plane_to_img).reshape(-1, 2)

    def metres_per_pixel(self, u: float, v: float) -> float:
        """Local scale on the facade (geometric mean of the two axes) at an image point."""
        p = self.to_plane(np.array([[u, v], [u + 1.0, v], [u, v + 1.0]]))
        du = float(np.hypot(*(p[1] - p[0])))
        dv = float(np.hypot(*(p[2] - p[0])))
        return math.sqrt(max(du * dv, 1e-12))

    def down_pixels_per_metre(self, u: float, v: float) -> tuple[float, float]:
        """Image displacement (du, dv) of 1 m straight down the facade from (u, v)."""
        xz = self.to_plane(np.array([[u, v]]))[0]
        a = self.to_image(np.array([xz, xz - (0.0, 1.0)]))
        return float(a[1, 0] - a[0, 0]), float(a[1, 1] - a[0, 1])

    # ---- floors and columns --------------------------------------------------------------
    def floor_of(self, z: float) -> int:
        return math.floor((z - self.cfg.ground_z_m) / self.cfg.storey_height_m) + 1

    def unproject(self, x_p: float, z_p: float, d: float) -> tuple[float, float]:
        """True (x, z) of a point d metres in front of the facade that projects to (x_p, z_p)."""
        pose = self.pose
        k = max(pose.distance - d, 0.1) / pose.distance
        return pose.x + (x_p - pose.x) * k, pose.z + (z_p - pose.z) * k

    def release_floor(
        self,
        x_p: float,
        z_p: float,
        sigma_z: float,
        d_est: float = RELEASE_D_EST_M,
        d_max: float = RELEASE_D_MAX_M,
    ) -> tuple[int, list[int], float]:
        """Best floor, [lo, hi] floor range and corrected z for a release seen at (x_p, z_p).

        The range covers releases from the facade plane out to `d_max` in front of it, widened
        by the fit's uncertainty `sigma_z`; the best floor assumes `d_est`.
        """
        _, z_est = self.unproject(x_p, z_p, d_est)
        _, z_far = self.unproject(x_p, z_p, d_max)
        z_lo, z_hi = min(z_p, z_far) - sigma_z, max(z_p, z_far) + sigma_z
        lo, hi = self.floor_of(z_lo), self.floor_of(z_hi)
        best = min(max(self.floor_of(z_est), lo), hi)
        return best, [max(lo, 1), max(hi, 1)], z_est

    def window_column(self, x: float) -> int | None:
        cols = self.cfg.window_columns_m
        if not cols:
            return None
        width = cols[-1] - cols[-2] if len(cols) > 1 else self.cfg.storey_height_m
        if x < cols[0] or x >= cols[-1] + width:
            return None
        return int(np.searchsorted(np.asarray(cols), x, side="right") - 1)

    # ---- camera pose ---------------------------------------------------------------------
    def _camera_pose(self) -> CameraPose:
        cx, cy = (self.width - 1) / 2.0, (self.height - 1) / 2.0
        shift = np.array([[1.0, 0.0, -cx], [0.0, 1.0, -cy], [0.0, 0.0, 1.0]])
        h = shift @ self.plane_to_img
        h = h / np.linalg.norm(h[:, 0])
        h1, h2 = h[:, 0], h[:, 1]
        # unknown w = 1/f²: r1·r2 = 0 and |r1| = |r2| are both linear in w
        rows = np.array(
            [
                [h1[0] * h2[0] + h1[1] * h2[1], h1[2] * h2[2]],
                [h1[0] ** 2 + h1[1] ** 2 - h2[0] ** 2 - h2[1] ** 2, h1[2] ** 2 - h2[2] ** 2],
            ]
        )
        norms = np.linalg.norm(rows, axis=1, keepdims=True)
        rows = rows / np.where(norms > 0, norms, 1.0)
        a, b = rows[:, 0], rows[:, 1]
        denom = float(a @ a)
        w = -float(a @ b) / denom if denom > 1e-12 else -1.0
        f_default = self.width / (2.0 * math.tan(math.radians(30.0)))
        estimated = w > 0 and 0.25 * self.width < 1.0 / math.sqrt(w) < 8.0 * self.width
        f = 1.0 / math.sqrt(w) if estimated else f_default
        k_inv = np.diag([1.0 / f, 1.0 / f, 1.0])
        m = k_inv @ h
        lam = 2.0 / (np.linalg.norm(m[:, 0]) + np.linalg.norm(m[:, 1]))
        if m[2, 2] * lam < 0:  # the facade must lie in front of the camera
            lam = -lam
        r1, r2, t = m[:, 0] * lam, m[:, 1] * lam, m[:, 2] * lam
        u_, _, vt = np.linalg.svd(np.column_stack([r1, r2, np.cross(r1, r2)]))
        rot = u_ @ vt
        centre = -rot.T @ t
        return CameraPose(
            x=float(centre[0]),
            z=float(centre[1]),
            distance=max(abs(float(centre[2])), 1.0),
            focal_px=float(f),
            estimated=bool(estimated),
        )
