"""Camera section `thermal`: fever screening settings (keys fixed by design.md)."""

from __future__ import annotations

from pydantic import Field

from edged.config.base import Strict


class BlackbodyConfig(Strict):
    roi: tuple[int, int, int, int] = Field(description="x, y, w, h in thermal pixels")
    set_point_c: float = 35.0


class ThermalConfig(Strict):
    blackbody: BlackbodyConfig | None = None
    threshold_c: float = Field(37.3, gt=30, lt=45)
    skin_offset_c: float = 1.2
