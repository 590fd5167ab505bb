"""Model adapters: turn one model family's raw output tensors into candidate boxes.

An adapter knows its output layout and nothing else; letterboxing, NMS and label mapping
are shared (detector.py). Each returns, per batch item, boxes ``[K, 4]`` (x1y1x2y2 in
network-input pixels), scores ``[K]`` and class indices ``[K]``, already score-thresholded,
one (best) class per box.
"""

from __future__ import annotations

import ast
import json
from typing import Any, Protocol

import numpy as np

from edged.detection.darknet_onnx import FORMAT as DARKNET_FORMAT
from edged.detection.darknet_onnx import METADATA_KEY
from edged.detection.labels import default_names

Candidates = tuple[np.ndarray, np.ndarray, np.ndarray]


class ModelLayoutError(ValueError):
    """The ONNX model does not have the layout its configured adapter expects."""


class Adapter(Protocol):
    names: list[str]

    def decode(
        self, outputs: dict[str, np.ndarray], net_h: int, net_w: int, threshold: float
    ) -> list[Candidates]:
        """Candidates for every item of the batch."""


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _empty() -> Candidates:
    return np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64)


def _xywh_to_xyxy(cx: np.ndarray, cy: np.ndarray, w: np.ndarray, h: np.ndarray) -> np.ndarray:
    return np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=-1).astype(np.float32)


class DarknetYoloAdapter:
    """YOLOv3(-tiny) heads as our converter emits them: ``[B, A*(5+C), H, W]`` per head.

    Decoding follows darknet's ``get_yolo_detections``: x = (col + σ(tx)) · stride,
    w = exp(tw) · anchor_w (anchors are network pixels), score = σ(obj) · σ(cls).
    """

    def __init__(self, metadata: dict[str, str]) -> None:
        raw = metadata.get(METADATA_KEY)
        meta: dict[str, Any] = json.loads(raw) if raw else {}
        if meta.get("format") != DARKNET_FORMAT:
            raise ModelLayoutError(
                "type yolov3_tiny needs a model converted by `edged models prepare` "
                "(no darknet-yolo metadata found); for an Ultralytics export use type: yolov8"
            )
        self.heads: list[dict[str, Any]] = meta["heads"]
        self.names: list[str] = list(meta["names"])

    def decode(
        self, outputs: dict[str, np.ndarray], net_h: int, net_w: int, threshold: float
    ) -> list[Candidates]:
        batch = next(iter(outputs.values())).shape[0]
        parts: list[list[Candidates]] = [[] for _ in range(batch)]
        for head in self.heads:
            out = outputs[head["output"]]
            anchors = np.asarray(head["anchors"], dtype=np.float32)
            a, c = len(anchors), head["classes"]
            b, _, gh, gw = out.shape
            grid = out.reshape(b, a, 5 + c, gh, gw).transpose(0, 1, 3, 4, 2)  # B,A,H,W,5+C
            obj = _sigmoid(grid[..., 4])
            bi, ai, yi, xi = np.nonzero(obj > threshold)
            if bi.size == 0:
                continue
            cell = grid[bi, ai, yi, xi]  # K, 5+C
            cls_prob = _sigmoid(cell[:, 5:])
            cls = cls_prob.argmax(axis=1)
            score = obj[bi, ai, yi, xi] * cls_prob[np.arange(cls.size), cls]
            sxy = float(head.get("scale_x_y", 1.0))
            cx = (xi + _sigmoid(cell[:, 0]) * sxy - 0.5 * (sxy - 1)) * (net_w / gw)
            cy = (yi + _sigmoid(cell[:, 1]) * sxy - 0.5 * (sxy - 1)) * (net_h / gh)
            w = np.exp(np.clip(cell[:, 2], -10, 10)) * anchors[ai, 0]
            h = np.exp(np.clip(cell[:, 3], -10, 10)) * anchors[ai, 1]
            boxes = _xywh_to_xyxy(cx, cy, w, h)
            keep = score > threshold
            for item in np.unique(bi[keep]):
                sel = keep & (bi == item)
                parts[int(item)].append(
                    (boxes[sel], score[sel].astype(np.float32), cls[sel].astype(np.int64))
                )
        return [_concat(p) for p in parts]


def _concat(parts: list[Candidates]) -> Candidates:
    if not parts:
        return _empty()
    return (
        np.concatenate([p[0] for p in parts]),
        np.concatenate([p[1] for p in parts]),
        np.concatenate([p[2] for p in parts]),
    )


def _ultralytics_names(metadata: dict[str, str]) -> list[str] | None:
    """Ultralytics writes ``names`` as a Python dict literal; literal_eval parses literals only."""
    raw = metadata.get("names")
    if not raw:
        return None
    try:
        parsed = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        return None
    if isinstance(parsed, dict) and parsed and all(isinstance(k, int) for k in parsed):
        return [str(parsed.get(i, i)) for i in range(max(parsed) + 1)]
    return None


class UltralyticsAdapter:
    """YOLOv8 / YOLO11 detect exports: one output ``[B, 4+C, N]`` (cx, cy, w, h, class scores).

    No objectness: the class scores are already sigmoid probabilities. A transposed
    ``[B, N, 4+C]`` export is recognised by the class count from the model's ``names``
    metadata, else by which axis is the short one (N is in the thousands for real exports).
    """

    def __init__(self, metadata: dict[str, str], output_name: str, output_shape: list[Any]) -> None:
        if len(output_shape) != 3:
            raise ModelLayoutError(
                f"type yolov8 expects one [1, 4+C, N] output, got shape {output_shape} "
                "(end-to-end NMS exports are not supported: export without nms)"
            )
        self.output = output_name
        names = _ultralytics_names(metadata)
        self.rows: int | None = len(names) + 4 if names else None
        self.names: list[str] = names or []

    def decode(
        self, outputs: dict[str, np.ndarray], net_h: int, net_w: int, threshold: float
    ) -> list[Candidates]:
        out = outputs[self.output]
        transposed = out.shape[2] == self.rows if self.rows else out.shape[1] > out.shape[2]
        if transposed:  # a [B, N, 4+C] export
            out = out.transpose(0, 2, 1)
        classes = out.shape[1] - 4
        if classes < 1:
            raise ModelLayoutError(f"output {out.shape} has no class rows")
        if not self.names:
            self.names = default_names(classes)
        result: list[Candidates] = []
        for item in out:  # 4+C, N
            scores_all = item[4:]
            cls = scores_all.argmax(axis=0)
            score = scores_all[cls, np.arange(cls.size)]
            keep = np.flatnonzero(score > threshold)
            if keep.size == 0:
                result.append(_empty())
                continue
            cx, cy, w, h = item[0, keep], item[1, keep], item[2, keep], item[3, keep]
            result.append(
                (_xywh_to_xyxy(cx, cy, w, h), score[keep].astype(np.float32), cls[keep].astype(np.int64))
            )
        return result
