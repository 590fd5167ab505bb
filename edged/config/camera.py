"""One camera section of the site config; a file with only design.md's fixed keys is valid."""

from __future__ import annotations

from pydantic import Field

from edged.config.base import Strict
from edged.config.facade import FacadeConfig
from edged.config.thermal import ThermalConfig

Polygon = list[tuple[float, float]]


class CameraConfig(Strict):
    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.:-]+$")
    source: str = Field(min_length=1, description="rtsp://, http(s):// MJPEG, or a file path")
    fps: float = Field(25.0, gt=0, le=120)
    facade: FacadeConfig | None = None
    masks: list[Polygon] = Field(default_factory=list)
    thermal: ThermalConfig | None = None
