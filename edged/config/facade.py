"""Camera section `facade`: calibration for the falling-object analytic (keys fixed by design.md)."""

from __future__ import annotations

import itertools

from pydantic import Field, model_validator

from edged.config.base import Strict


class FacadeConfig(Strict):
    points: list[tuple[float, float, float, float]] = Field(
        min_length=4, description="image pixel (u, v) -> facade plane (x_m along, z_m up)"
    )
    storey_height_m: float = Field(3.0, gt=0)
    ground_z_m: float = 0.0
    window_columns_m: list[float] | None = None

    @model_validator(mode="after")
    def _columns_sorted(self) -> FacadeConfig:
        cols = self.window_columns_m
        if cols is not None and any(b <= a for a, b in itertools.pairwise(cols)):
            raise ValueError("window_columns_m must be strictly increasing")
        return self
