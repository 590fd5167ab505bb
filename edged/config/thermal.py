"""Camera section `thermal`: fever screening settings.

design.md fixes `blackbody.roi`, `blackbody.set_point_c`, `threshold_c` and `skin_offset_c`;
every other key has a default, so a section with only those keys is valid. The defaults follow
IEC 80601-2-59 / ISO/TR 13154 practice: blackbody in the image, canthus (or face max), ≥ 5 frames.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import Field, PrivateAttr, model_validator

from edged.config.base import Strict


class BlackbodyConfig(Strict):
    roi: tuple[int, int, int, int] = Field(description="x, y, w, h in thermal pixels (inside the source)")
    set_point_c: float = 35.0
    smoothing_s: float = Field(1.0, gt=0, le=30, description="time constant of the offset smoother")
    max_std_c: float = Field(
        0.1, gt=0, description="std of the 3x3-smoothed ROI, or of its mean over 0.5 s, above this: unstable"
    )
    max_jump_c: float = Field(0.3, gt=0, description="ROI mean off the smoothed value by more: lost/moved")
    plausible_c: float = Field(5.0, gt=0, description="ROI further than this from the set point: missing")
    relock_s: float = Field(1.0, gt=0, le=30, description="stable this long before screening resumes")
    max_drift_c_per_min: float = Field(
        1.0, gt=0, description="reference moving faster than any camera drifts: the blackbody is failing"
    )
    max_age_s: float = Field(
        5.0, gt=0, le=60, description="no good blackbody reading this long: uncalibrated"
    )


class CrowdConfig(Strict):
    delta_c: float = Field(1.0, gt=0, le=5, description="alarm above the rolling median by this much")
    window: int = Field(50, ge=5, le=10000, description="people in the rolling median")
    min_people: int = Field(10, ge=3, description="no relative alarms before this many people")


class FacesConfig(Strict):
    detector: Literal["auto", "centerface", "hot_region"] = Field(
        "auto", description="auto: CenterFace on the visible frame (else tone-mapped thermal) + hot regions"
    )
    centerface_threshold: float = Field(0.5, gt=0, lt=1)
    centerface_max_side: int = Field(320, ge=64, le=1920, description="thermal images are scaled to this")
    thermal_centerface_every: int = Field(
        10, ge=0, le=100, description="without a visible stream, run CenterFace on every Nth frame (0: never)"
    )
    min_face_px: int = Field(16, ge=4, description="face width in thermal pixels below which: flagged")
    skin_min_c: float = Field(30.0, description="warmest spot of a face is at least this")
    skin_max_c: float = Field(41.0, description="hotter than this is an object, never skin")
    face_band_c: float = Field(2.5, gt=0, le=10, description="face region: within this of its warmest spot")


class DistanceConfig(Strict):
    """Calibrated distance band; the distance comes from the face width and the focal length."""

    focal_px: float = Field(gt=0, description="thermal focal length in pixels")
    face_width_m: float = Field(0.15, gt=0)
    band_m: tuple[float, float] = (0.5, 3.0)


Matrix3 = tuple[tuple[float, float, float], tuple[float, float, float], tuple[float, float, float]]


def _general_position(src: np.ndarray, dst: np.ndarray) -> float:
    """Smallest-to-largest ratio of the 8 singular values of the Hartley-normalised DLT system:
    near 0 when the correspondences do not pin a homography down (three of four on a line)."""

    def norm(p: np.ndarray) -> np.ndarray:
        c = p - p.mean(axis=0)
        return c * (np.sqrt(2) / max(float(np.sqrt((c**2).sum(axis=1)).mean()), 1e-12))

    rows = []
    for (x, y), (u, v) in zip(norm(src), norm(dst), strict=True):
        rows.append([-x, -y, -1, 0, 0, 0, u * x, u * y, u])
        rows.append([0, 0, 0, -x, -y, -1, v * x, v * y, v])
    s = np.linalg.svd(np.asarray(rows), compute_uv=False)
    return float(s[7] / s[0])


class VisibleConfig(Strict):
    """Co-registration of a dual-spectrum camera's visible picture (ISAPI): visible px -> thermal px.

    Either the 3x3 `homography` or (easier at commissioning) `points`, computed once at load so a
    bad survey is a config error, not a screening that looks at the wrong spot.
    """

    homography: Matrix3 | None = Field(None, description="3x3, visible pixel -> thermal pixel")
    points: list[tuple[float, float, float, float]] | None = Field(
        None,
        min_length=4,
        description="visible (x, y) -> thermal (x, y); at least 4 (5+ to catch a typo), spread over the view",
    )
    max_error_px: float = Field(
        2.0,
        gt=0,
        le=20,
        description="points (5 or more): one further than this (thermal px) from the fit of the others "
        "is an error",
    )
    _matrix: Any = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _solve(self) -> VisibleConfig:
        if (self.homography is None) == (self.points is None):
            raise ValueError("visible: give exactly one of `homography` (3x3) or `points`")
        if self.homography is not None:
            hmat = np.asarray(self.homography, dtype=np.float64)
        else:
            hmat = self._from_points(np.asarray(self.points, dtype=np.float64))
        if not np.isfinite(hmat).all() or np.linalg.cond(hmat) > 1e12:
            raise ValueError("visible.homography is singular: it does not map the visible image onto a plane")
        self._matrix = hmat / hmat[2, 2] if abs(hmat[2, 2]) > 1e-12 else hmat
        return self

    def _from_points(self, pts: np.ndarray) -> np.ndarray:
        import cv2  # only here: most configs have no visible registration

        src, dst = pts[:, :2], pts[:, 2:]
        if len(np.unique(src, axis=0)) < len(src) or len(np.unique(dst, axis=0)) < len(dst):
            raise ValueError("visible.points: a visible or thermal point is repeated")
        if _general_position(src, dst) < 5e-3:
            raise ValueError("visible.points are (nearly) on a line: pick 4+ points spread over the view")
        hmat, _ = cv2.findHomography(src, dst, 0)
        if hmat is None:
            raise ValueError("visible.points do not define a homography")
        # each point against the fit of the others (with 4, the others always fit: no check). Which
        # point is wrong is not named: with a handful of points a typo bends the fit of the rest.
        n = len(src)
        loo = [
            r[i] for i in range(n) if n > 4 and (r := _reprojection(src, dst, np.arange(n) != i)) is not None
        ]
        if loo and max(loo) > self.max_error_px:
            raise ValueError(
                f"visible.points disagree: a point is {max(loo):.1f} thermal px off the fit of the others "
                f"(max_error_px {self.max_error_px}): a typo or a mismatched point?"
            )
        return np.asarray(hmat, dtype=np.float64)

    def matrix(self) -> np.ndarray:
        """The 3x3 visible -> thermal homography (float64, normalised to h33 = 1)."""
        return np.array(self._matrix, dtype=np.float64)


class ThermalConfig(Strict):
    blackbody: BlackbodyConfig | None = None
    threshold_c: float = Field(37.3, gt=30, lt=45)
    skin_offset_c: float = Field(1.2, ge=-2, le=6, description="body estimate = skin (canthus) + this")
    glasses_extra_offset_c: float = Field(
        0.5, ge=0, le=3, description="canthi hidden by glasses: the face max is forehead, this much cooler"
    )
    compensation: Literal["site_offset", "crowd_relative"] = "site_offset"
    crowd: CrowdConfig = Field(default_factory=CrowdConfig)
    crowd_when_uncalibrated: bool = Field(False, description="relative alarms while the blackbody is lost")
    pre_alarm_c: float = Field(
        0.3, ge=0, le=2, description="band below the threshold that waits for more frames"
    )
    hysteresis_c: float = Field(0.1, ge=0, le=1, description="a late alarm needs threshold + this")
    min_frames: int = Field(5, ge=1, le=100, description="valid frames before a decision")
    decide_after_s: float = Field(
        0.8,
        ge=0,
        le=10,
        description="collect this long after the first valid frame (the face grows as people approach)",
    )
    max_decision_s: float = Field(1.0, gt=0, le=10, description="borderline readings wait up to this long")
    ffc_settle_s: float = Field(0.25, ge=0, le=10, description="frames this long after a shutter are skipped")
    track_timeout_s: float = Field(0.6, gt=0, le=10, description="a face unseen this long ends its track")
    reid_window_s: float = Field(3.0, ge=0, le=60, description="a new track near a lost alarmed one is it")
    faces: FacesConfig = Field(default_factory=FacesConfig)
    distance: DistanceConfig | None = None
    gain: float | None = Field(None, gt=0, description="UVC: kelvin per count (default centi-kelvin 0.01)")
    offset: float | None = Field(None, description="UVC: kelvin at count 0 (default 0)")
    telemetry: Literal["none", "header", "footer"] = Field(
        "none", description="UVC Lepton (PureThermal): telemetry rows sent with the image, for the FFC flag"
    )
    visible: VisibleConfig | None = Field(
        None, description="ISAPI dual-spectrum: register the visible picture for face finding"
    )
    emit_readings: bool = Field(
        False, description="also emit a `temperature_reading` per person (priority 2)"
    )
    summary_interval_s: float = Field(10.0, gt=0, le=3600, description="`screening` telemetry period")

    @model_validator(mode="after")
    def _bands(self) -> ThermalConfig:
        if self.faces.skin_max_c <= self.faces.skin_min_c:
            raise ValueError("faces.skin_max_c must be above faces.skin_min_c")
        if self.distance is not None and not 0 <= self.distance.band_m[0] < self.distance.band_m[1]:
            raise ValueError("distance.band_m must be [near, far] with 0 <= near < far")
        return self


ThermalSourceKind = Literal["npz", "uvc", "isapi"]


def thermal_source_kind(source: str) -> ThermalSourceKind | None:
    """Which kind of thermal source a camera's `source` opens (None: not a thermal source).
    The one place that tells them apart: the source opener dispatches on it and the site
    config checks the settings that only one kind reads (telemetry, gain/offset, visible)."""
    if source.endswith(".npz"):
        return "npz"
    if source.startswith(("uvc:", "/dev/video")):
        return "uvc"
    if source.startswith("isapi://") or "/ISAPI/" in source:
        return "isapi"
    return None


def _reprojection(src: np.ndarray, dst: np.ndarray, use: np.ndarray) -> np.ndarray | None:
    """Each point's distance (thermal px) from a homography fitted to the `use` points only;
    None when those do not pin one down (too few, or nearly on a line)."""
    import cv2

    if use.sum() < 4 or _general_position(src[use], dst[use]) < 5e-3:
        return None
    hmat, _ = cv2.findHomography(src[use], dst[use], 0)
    if hmat is None:
        return None
    fit = cv2.perspectiveTransform(src.reshape(-1, 1, 2), hmat).reshape(-1, 2)
    return np.asarray(np.hypot(*(fit - dst).T))
