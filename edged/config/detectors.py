"""Detector plugins, chosen by a typed discriminated config (one worker per entry)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator

from edged.config.base import Strict

Provider = Literal["cpu", "cuda", "tensorrt", "openvino"]


class _DetectorCommon(Strict):
    """Session, post-processing and serving knobs shared by every model family."""

    providers: list[Provider] = Field(
        ["cpu"],
        description="execution providers in order of preference; missing ones are skipped (logged), "
        "CPU is always the last resort",
    )
    device_id: int = Field(0, ge=0, description="GPU index for cuda / tensorrt")
    threads: int = Field(
        1,
        ge=0,
        le=64,
        description="onnxruntime intra-op threads; 0 = its default (one per core). 1 by default: the "
        "cores are shared with camera decoders, and a parallel inference that loses a core to them "
        "waits (4 cameras on 2 cores: 3.1 vs 2.0 fps, 59 vs 109 ms CPU per frame)",
    )
    score_threshold: float = Field(0.25, gt=0, lt=1)
    nms_iou: float = Field(0.45, gt=0, le=1, description="per-class NMS IoU threshold")
    max_detections: int = Field(100, ge=1, le=1000, description="per frame, after NMS")
    classes: list[str] | None = Field(None, description="labels to keep (e.g. [person, car]); default all")
    rect: bool = Field(
        True, description="pad the short side only to a multiple of 32 (dynamic-shape models only)"
    )
    max_batch: int = Field(8, ge=1, le=64, description="images per inference call across cameras")
    batch_window_s: float = Field(
        0.004, ge=0, le=0.1, description="after the first request, wait this long for more to batch"
    )
    stale_after_s: float = Field(
        0.5, gt=0, le=10, description="requests older than this (since frame capture) are dropped"
    )

    @field_validator("providers")
    @classmethod
    def _no_duplicates(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("providers listed twice")
        if not value:
            raise ValueError("at least one provider (e.g. [cpu])")
        return value


class YoloDarknetDetector(_DetectorCommon):
    """The shipped COCO model: YOLOv3-tiny darknet weights converted to ONNX at install time."""

    type: Literal["yolov3_tiny"] = "yolov3_tiny"
    name: str = Field("coco", pattern=r"^[A-Za-z0-9_.-]+$")
    model: str | None = Field(None, description="ONNX path; default: the prepared model")
    input_size: int = Field(320, ge=160, le=1280, multiple_of=32)


class YoloUltralyticsDetector(_DetectorCommon):
    """A site's own YOLOv8 / YOLO11 ONNX export ([1, 84, N] output)."""

    type: Literal["yolov8"] = "yolov8"
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    model: str
    input_size: int = Field(640, ge=160, le=1280, multiple_of=32)


DetectorConfig = Annotated[YoloDarknetDetector | YoloUltralyticsDetector, Field(discriminator="type")]
AnyDetector = YoloDarknetDetector | YoloUltralyticsDetector
