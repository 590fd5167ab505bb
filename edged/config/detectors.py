"""Detector plugins, chosen by a typed discriminated config (one worker per entry)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from edged.config.base import Strict


class YoloDarknetDetector(Strict):
    """The shipped COCO model: YOLOv3-tiny darknet weights converted to ONNX at install time."""

    type: Literal["yolov3_tiny"] = "yolov3_tiny"
    name: str = "coco"
    model: str | None = Field(None, description="ONNX path; default: the prepared model")
    input_size: int = Field(320, ge=160, le=1280, multiple_of=32)


class YoloUltralyticsDetector(Strict):
    """A site's own YOLOv8 / YOLO11 ONNX export ([1, 84, N] output)."""

    type: Literal["yolov8"] = "yolov8"
    name: str
    model: str
    input_size: int = Field(640, ge=160, le=1280, multiple_of=32)


DetectorConfig = Annotated[YoloDarknetDetector | YoloUltralyticsDetector, Field(discriminator="type")]
