"""One camera section of the site config; a file with only design.md's fixed keys is valid.

Fixed keys (design.md): id, source, fps, facade, masks, thermal. Everything else here has a
default. Coordinates of masks, zones and lines are pixels of the camera's native image; the
pipeline scales them when it decodes at a smaller width.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from edged.config.base import Strict
from edged.config.facade import FacadeConfig
from edged.config.thermal import ThermalConfig

Polygon = list[tuple[float, float]]
Point = tuple[float, float]

DEFAULT_CLASSES = ["person", "bicycle", "car", "motorcycle", "bus", "truck"]


class DecodeConfig(Strict):
    """How the source is opened and decoded (OpenCV's FFmpeg, in the camera worker)."""

    transport: Literal["tcp", "udp"] = Field("tcp", description="RTSP transport")
    width: int | None = Field(None, ge=64, le=7680, description="decode then scale to this width")
    loop: bool = Field(False, description="files: start over at the end")
    realtime: bool = Field(False, description="files: pace frames to their timestamps")
    hw_accel: Literal["none", "any"] = "none"
    open_timeout_s: float = Field(10.0, gt=0, le=120)
    stall_timeout_s: float = Field(5.0, gt=0, le=120, description="no frame this long: reopen")
    backoff_min_s: float = Field(0.5, gt=0)
    backoff_max_s: float = Field(15.0, gt=0)
    ring_slots: int = Field(8, ge=2, le=256, description="frames kept in shared memory")


class MotionConfig(Strict):
    enabled: bool = Field(True, description="false: every detection frame goes to the detector whole")
    width: int = Field(320, ge=32, le=1920, description="motion runs on a frame scaled to this width")
    threshold: int = Field(25, ge=1, le=255, description="per-pixel change that counts as motion")
    min_area: float = Field(0.0005, ge=0, le=1, description="smallest moving blob, fraction of the frame")
    recheck_s: float = Field(
        5.0, gt=0, description="stationary scene: send the whole frame to the detector this often"
    )


class DetectionConfig(Strict):
    detector: str | None = Field(
        None, description="name in `detectors`; 'motion' = moving blobs as class 'object'; default: first"
    )
    fps: float = Field(5.0, gt=0, le=60, description="detection rate")
    classes: list[str] = Field(default_factory=lambda: list(DEFAULT_CLASSES))
    min_score: float = Field(0.3, ge=0, le=1, description="detections below this are ignored")
    threshold: float = Field(0.5, ge=0, le=1, description="median score that confirms an object")
    history: int = Field(10, ge=1, le=100, description="scores kept per object for the median")

    @model_validator(mode="after")
    def _order(self) -> DetectionConfig:
        if self.threshold < self.min_score:
            raise ValueError("threshold must be >= min_score")
        return self


class TrackingConfig(Strict):
    match_iou: float = Field(0.2, gt=0, lt=1, description="least IoU to continue a track")
    max_age_s: float = Field(2.0, gt=0, description="drop a track unseen this long")
    anchor: Literal["bottom", "center"] = Field("bottom", description="point tested against zones")


class ScheduleWindow(Strict):
    days: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]] = Field(
        default_factory=lambda: ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]  # type: ignore[arg-type]
    )
    start: dt.time = dt.time(0, 0)
    end: dt.time = Field(dt.time(23, 59, 59), description="before start: the window spans midnight")


class ZoneConfig(Strict):
    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.:-]+$")
    polygon: Polygon = Field(min_length=3)
    classes: list[str] = Field(default_factory=lambda: ["person"])
    intrusion: bool = Field(True, description="alarm when an object is inside")
    inertia_frames: int = Field(3, ge=1, le=100, description="consecutive analysed frames inside")
    loitering_s: float | None = Field(None, gt=0, description="alarm when inside this long")
    schedule: list[ScheduleWindow] | None = Field(None, description="intrusion armed only in these windows")
    priority: int = Field(1, ge=0, le=2)


class LineConfig(Strict):
    """Walking from `points[0]` to `points[1]`, `in` is a crossing from your left to your right."""

    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.:-]+$")
    points: tuple[Point, Point]
    classes: list[str] = Field(default_factory=lambda: ["person"])
    margin_px: float = Field(4.0, ge=0, description="distance from the line that settles a side")
    alarm_direction: Literal["in", "out", "both", "none"] = Field(
        "both", description="crossings in this direction are events; all are counted"
    )
    priority: int = Field(2, ge=0, le=2)

    @field_validator("points")
    @classmethod
    def _distinct(cls, v: tuple[Point, Point]) -> tuple[Point, Point]:
        if v[0] == v[1]:
            raise ValueError("a line needs two distinct points")
        return v


class SnapshotConfig(Strict):
    dir: Path | None = Field(None, description="default: <state_dir>/snapshots/<camera id>")
    max_files: int = Field(500, ge=1)
    max_bytes: int = Field(200 << 20, ge=1 << 20)
    jpeg_quality: int = Field(85, ge=30, le=100)


class CameraConfig(Strict):
    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.:-]+$")
    source: str = Field(min_length=1, description="rtsp://, http(s):// MJPEG, or a file path")
    fps: float = Field(25.0, gt=0, le=120)
    facade: FacadeConfig | None = None
    masks: list[Polygon] = Field(default_factory=list)
    thermal: ThermalConfig | None = None
    enabled: bool = True
    decode: DecodeConfig = Field(default_factory=DecodeConfig)
    motion: MotionConfig = Field(default_factory=MotionConfig)
    detection: DetectionConfig = Field(default_factory=DetectionConfig)
    tracking: TrackingConfig = Field(default_factory=TrackingConfig)
    zones: list[ZoneConfig] = Field(default_factory=list)
    lines: list[LineConfig] = Field(default_factory=list)
    snapshots: SnapshotConfig = Field(default_factory=SnapshotConfig)

    @field_validator("masks")
    @classmethod
    def _mask_polygons(cls, v: list[Polygon]) -> list[Polygon]:
        for i, poly in enumerate(v):
            if len(poly) < 3:
                raise ValueError(f"mask {i} needs at least 3 points")
        return v

    @model_validator(mode="after")
    def _unique_ids(self) -> CameraConfig:
        ids = [z.id for z in self.zones] + [ln.id for ln in self.lines]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"zone/line ids must be unique: {', '.join(dupes)}")
        return self

    @property
    def analytics_enabled(self) -> bool:
        """The detection/tracking pipeline runs only when something consumes its tracks."""
        return bool(self.zones or self.lines)
