"""Decide what a finished track was, in metres on the facade plane, and where it was released.

Pixel accelerations are meaningless under perspective, so the track is mapped onto the facade
plane first. A heavy object's height over its first second of observed fall is a parabola with
4–11 m/s² downward (drag lowers it; 3–13 allowed for perspective and noise); it may rise
first (thrown upward or outward). A light object (paper, bags) reaches its terminal speed
(≤ 3 m/s) within a fraction of a second and drifts down: reported as "suspected". Birds fail
on horizontal speed or on the net drop; clutter never drops two storeys.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edged.pipelines.falling.geometry import FacadeGeometry
from edged.pipelines.falling.track import Track


@dataclass(slots=True)
class ClassifyParams:
    min_points: int = 7
    min_fit_points: int = 9
    min_fill: float = 0.5  # sightings / frames spanned in the fit window
    track_fill: float = 0.4  # ... over the whole track (gaps behind windows, balconies allowed)
    max_rms_m: float = 0.05  # plus `max_rms_px` at the spot
    max_rms_px: float = 1.5
    max_lead_s: float = 1.0  # release → first sighting (it may fall past its own dark window unseen)
    min_drop_storeys: float = 1.7
    fit_window_s: float = 1.2
    accel_range: tuple[float, float] = (3.0, 16.0)
    accel_max_entering: float = 32.0
    max_vx_heavy: float = 6.0
    light_speed_range: tuple[float, float] = (0.35, 4.5)
    max_vx_light: float = 2.5
    edge_margin_px: float = 12.0


@dataclass(slots=True)
class Decision:
    severity: str  # "alarm" | "suspected"
    t_release: float
    x_release: float  # facade plane, as projected
    z_release: float
    sigma_z: float
    accel: float | None
    drop_m: float
    confidence: float
    reason: str
    rms_m: float = 0.0
    lead_s: float = 0.0  # time from the estimated release to the first sighting
    release_seen: bool = True  # False: the object entered from the top, the release is extrapolated


def classify(
    tr: Track, geo: FacadeGeometry, near_mask: np.ndarray | None, p: ClassifyParams | None = None
) -> Decision | None:
    p = p or ClassifyParams()
    if len(tr) < p.min_points:
        return None
    t = np.asarray(tr.t)
    uv = np.column_stack([tr.u, tr.v])
    xz = geo.to_plane(uv)
    x, z = xz[:, 0], xz[:, 1]
    storey = geo.cfg.storey_height_m
    top = int(np.argmax(z))
    drop = float(z[top] - z[top:].min())
    if drop < p.min_drop_storeys * storey:
        return None
    frames = np.asarray(tr.steps)  # analysed frames: a camera that skips frames must not look sparse
    # a falling object is seen in most frames; chains of clutter picked up here and there are not
    if len(tr) < p.track_fill * (frames[-1] - frames[0] + 1):
        return None
    heavy = _heavy(t, x, z, geo, uv, frames, p)
    if heavy is not None:
        return heavy
    return _light(t, x, z, drop, top, uv, geo, near_mask, p)


def _heavy(
    t: np.ndarray,
    x: np.ndarray,
    z: np.ndarray,
    geo: FacadeGeometry,
    uv: np.ndarray,
    frames: np.ndarray,
    p: ClassifyParams,
) -> Decision | None:
    tau = t - t[0]
    sel = tau <= p.fit_window_s
    if sel.sum() < p.min_fit_points or tau[sel][-1] < 0.35:
        return None
    ts, zs, xs = tau[sel], z[sel], x[sel]
    fs = frames[sel]
    if sel.sum() < p.min_fill * (fs[-1] - fs[0] + 1):
        return None
    a_mat = np.column_stack([np.ones_like(ts), ts, ts * ts])
    coef, *_ = np.linalg.lstsq(a_mat, zs, rcond=None)
    resid = zs - a_mat @ coef
    rms = float(np.sqrt(np.mean(resid**2)))
    accel = -2.0 * float(coef[2])
    scale = geo.metres_per_pixel(float(uv[0, 0]), float(uv[0, 1]))
    # an outward throw seen against the facade is magnified by D / (D - d) as it nears the camera,
    # and it is one that leaves the top of the view first: allow a higher apparent acceleration
    entered_top = uv[0, 1] <= 0.04 * geo.height
    top = p.accel_max_entering if entered_top else p.accel_range[1]
    if not (p.accel_range[0] <= accel <= top):
        return None
    if rms > p.max_rms_m + p.max_rms_px * scale:
        return None
    v_end = float(coef[1] + 2 * coef[2] * ts[-1])
    if v_end > -2.0:
        return None
    vx = float(np.polyfit(ts, xs, 1)[0])
    if abs(vx) > p.max_vx_heavy:
        return None
    # the rest of the track must keep falling at least as fast (no bird pulling up)
    rest = tau > p.fit_window_s
    if rest.sum() >= 3 and float(np.polyfit(tau[rest], z[rest], 1)[0]) > 0.6 * v_end:
        return None
    tau_apex = -float(coef[1]) / (2.0 * float(coef[2])) if coef[2] < 0 else 0.0
    tau_r = max(min(tau_apex, 0.0), -1.5)
    # a release inside the view would have been seen: only an entry from the top may lead
    if -tau_r > p.max_lead_s and uv[0, 1] > 0.08 * geo.height:
        return None
    z_r = float(coef[0] + coef[1] * tau_r + coef[2] * tau_r * tau_r)
    xc = np.polyfit(ts, xs, 1)
    x_r = float(xc[0] * tau_r + xc[1])
    cov = np.linalg.pinv(a_mat.T @ a_mat) * max(rms, scale) ** 2
    basis = np.array([1.0, tau_r, tau_r * tau_r])
    sigma = float(np.sqrt(max(basis @ cov @ basis, 0.0))) + 0.25 + 0.3 * abs(tau_r)
    conf = float(
        np.clip(
            0.95 - 0.4 * rms / (p.max_rms_m + p.max_rms_px * scale) - 0.1 * abs(accel - 8.0) / 6.0, 0.3, 0.99
        )
    )
    drop = float(z.max() - z.min())
    seen = not entered_top
    return Decision(
        "alarm", float(t[0] + tau_r), x_r, z_r, sigma, accel, drop, conf, "ballistic", rms, -tau_r, seen
    )


def _light(
    t: np.ndarray,
    x: np.ndarray,
    z: np.ndarray,
    drop: float,
    top: int,
    uv: np.ndarray,
    geo: FacadeGeometry,
    near_mask: np.ndarray | None,
    p: ClassifyParams,
) -> Decision | None:
    """Slow, mostly monotone descent that starts inside the view, away from masks (trees)."""
    u0, v0 = uv[0]
    m = p.edge_margin_px
    if u0 < m or v0 < m or u0 > geo.width - m or v0 > geo.height - m:
        return None
    if near_mask is not None and near_mask[int(v0), int(u0)]:
        return None
    dur = float(t[-1] - t[top])
    if dur < 1.0:
        return None
    speed = drop / dur
    if not (p.light_speed_range[0] <= speed <= p.light_speed_range[1]):
        return None
    if abs(float(x[-1] - x[0])) / max(float(t[-1] - t[0]), 1e-3) > p.max_vx_light:
        return None
    # monotone at a 0.4 s scale: the leaf's flutter allowed, a bird's climb not
    step = max(round(0.4 / max(float(np.median(np.diff(t))), 1e-3)), 1)
    dz = z[step::step] - z[:-step:step]
    if len(dz) < 2 or float(np.mean(dz < 0)) < 0.75:
        return None
    conf = float(np.clip(0.3 + 0.05 * drop / geo.cfg.storey_height_m, 0.3, 0.6))
    return Decision("suspected", float(t[0]), float(x[0]), float(z[0]), 0.5, None, drop, conf, "slow_descent")
