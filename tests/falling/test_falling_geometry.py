"""Facade calibration: the homography, the recovered camera position, floors, columns, ranges."""

from __future__ import annotations

import numpy as np
import pytest

from edged.config.facade import FacadeConfig
from edged.pipelines.falling.geometry import FacadeGeometry
from edged.pipelines.falling.synth.camera import PinholeCamera


def _setup(
    distance: float = 20.0, aim_z: float = 18.0, hfov: float = 65.0
) -> tuple[PinholeCamera, FacadeGeometry]:
    cam = PinholeCamera(1920, 1080, np.array([12.0, -distance, 1.5]), np.array([14.0, 0.0, aim_z]), hfov)
    plane = [(x, z) for x in (2.0, 10.0, 22.0) for z in (3.0, 15.0, 30.0)]
    pts = []
    for x, z in plane:
        uv, _ = cam.project(np.array([[x, 0.0, z]]))
        pts.append((float(uv[0, 0]), float(uv[0, 1]), x, z))
    cfg = FacadeConfig(
        points=pts, storey_height_m=3.0, ground_z_m=0.0, window_columns_m=[0.0, 3.6, 7.2, 10.8]
    )
    return cam, FacadeGeometry(cfg, (1920, 1080))


@pytest.mark.parametrize(("distance", "aim_z"), [(15.0, 12.0), (22.0, 20.0), (30.0, 25.0)])
def test_camera_pose_recovered_from_homography(distance: float, aim_z: float) -> None:
    cam, geo = _setup(distance, aim_z)
    assert geo.pose.estimated
    assert geo.pose.distance == pytest.approx(distance, rel=0.03)
    assert geo.pose.z == pytest.approx(1.5, abs=0.5)
    assert geo.pose.x == pytest.approx(12.0, abs=0.5)
    assert geo.pose.focal_px == pytest.approx(cam.focal, rel=0.03)


def test_plane_mapping_roundtrip_and_floors() -> None:
    cam, geo = _setup()
    uv, _ = cam.project(np.array([[5.0, 0.0, 22.5]]))
    x, z = geo.to_plane(uv)[0]
    assert (x, z) == pytest.approx((5.0, 22.5), abs=1e-3)
    assert geo.floor_of(0.1) == 1
    assert geo.floor_of(22.5) == 8
    assert geo.window_column(5.0) == 1
    assert geo.window_column(-0.5) is None
    assert geo.window_column(14.0) == 3
    assert geo.window_column(14.5) is None


def test_object_in_front_of_facade_projects_high_and_range_covers_it() -> None:
    cam, geo = _setup()
    # a release 1 m in front of the facade at z = 31 m (floor 11): seen against the facade higher up
    uv, _ = cam.project(np.array([[8.0, -1.0, 31.0]]))
    x_p, z_p = geo.to_plane(uv)[0]
    assert z_p > 31.0 + 1.0  # the perspective error the issue warns about
    _, z_true = geo.unproject(float(x_p), float(z_p), 1.0)
    assert z_true == pytest.approx(31.0, abs=0.05)
    best, rng, _ = geo.release_floor(float(x_p), float(z_p), sigma_z=0.3)
    assert rng[0] <= 11 <= rng[1]
    assert abs(best - 11) <= 1
