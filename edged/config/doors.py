"""Access control: RS-485 buses, IP controllers and the unit doors they serve."""

from __future__ import annotations

from pydantic import Field

from edged.config.base import Strict


class DoorConfig(Strict):
    id: str = Field(min_length=1)
    building: str
    unit: str | None = None


class DoorsConfig(Strict):
    doors: list[DoorConfig] = Field(default_factory=list)

    def worker_groups(self) -> list[str]:
        """Names of the doors workers to start (one per bus / controller group)."""
        return ["main"] if self.doors else []
