"""The detection record every adapter returns and every reply carries."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Detection:
    cls: int  # class index in the model's label list
    label: str
    score: float  # 0..1 (objectness x class probability for darknet models)
    box: tuple[float, float, float, float]  # x1, y1, x2, y2 in source-image pixels

    def to_dict(self) -> dict[str, Any]:
        return {
            "cls": self.cls,
            "label": self.label,
            "score": round(self.score, 4),
            "box": [round(v, 1) for v in self.box],
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Detection:
        x1, y1, x2, y2 = (float(v) for v in raw["box"])
        return cls(int(raw["cls"]), str(raw["label"]), float(raw["score"]), (x1, y1, x2, y2))
