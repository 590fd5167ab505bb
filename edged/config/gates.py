"""Vehicle and pedestrian checkpoints (barriers, loops, plate cameras)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from edged.config.base import Strict


class CheckpointConfig(Strict):
    id: str = Field(min_length=1)
    kind: Literal["vehicle", "pedestrian"] = "vehicle"
    plate_camera: str | None = Field(None, description="id of a camera in `cameras`")
    thermal_camera: str | None = Field(None, description="id of a thermal camera in `cameras`")


class GatesConfig(Strict):
    checkpoints: list[CheckpointConfig] = Field(default_factory=list)
