"""Letterboxing: fit an image into the network input without distorting it, and map boxes back.

The aspect ratio is kept (a squashed person is a worse person), the rest is padded with
grey 114 (what YOLOv8 trained with; darknet's 127 differs by noise). With ``rect`` the
short side is padded only up to the next multiple of the stride, so a 16:9 camera at
input 320 costs 320x192 instead of 320x320 — about 40 % less compute on dynamic-shape models.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

PAD_VALUE = 114


@dataclass(frozen=True, slots=True)
class Letterbox:
    scale_x: float  # resized width / source width
    scale_y: float
    pad_x: int  # left padding in network pixels
    pad_y: int  # top padding
    src_w: int
    src_h: int


def as_bgr(image: np.ndarray) -> np.ndarray:
    """3-channel uint8 BGR from grey, BGRA or BGR input (anything else is a ValueError)."""
    if image.dtype != np.uint8:
        raise ValueError(f"image must be uint8, got {image.dtype}")
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.ndim == 3 and image.shape[2] == 1:
        return cv2.cvtColor(image[:, :, 0], cv2.COLOR_GRAY2BGR)
    if image.ndim == 3 and image.shape[2] == 3:
        return image
    if image.ndim == 3 and image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    raise ValueError(f"image must be HxW, HxWx3 or HxWx4, got shape {image.shape}")


def target_shape(src_h: int, src_w: int, size: int, stride: int = 32, rect: bool = False) -> tuple[int, int]:
    """Network input (height, width) for a source image: square, or rect rounded up to ``stride``."""
    if not rect:
        return size, size
    r = size / max(src_h, src_w)
    new_h, new_w = round(src_h * r), round(src_w * r)
    return math.ceil(new_h / stride) * stride, math.ceil(new_w / stride) * stride


def letterbox(image: np.ndarray, out_h: int, out_w: int) -> tuple[np.ndarray, Letterbox]:
    """BGR uint8 HxWx3 → float32 3xHxW RGB in [0, 1], centred on a grey canvas."""
    src_h, src_w = image.shape[:2]
    if src_h < 1 or src_w < 1:
        raise ValueError("empty image")
    r = min(out_h / src_h, out_w / src_w)
    new_w, new_h = max(1, round(src_w * r)), max(1, round(src_h * r))
    pad_x, pad_y = (out_w - new_w) // 2, (out_h - new_h) // 2
    canvas = np.full((out_h, out_w, 3), PAD_VALUE, dtype=np.uint8)
    resized = image if (new_w, new_h) == (src_w, src_h) else cv2.resize(image, (new_w, new_h))
    canvas[pad_y : pad_y + new_h, pad_x : pad_x + new_w] = resized
    blob = canvas[:, :, ::-1].transpose(2, 0, 1).astype(np.float32)
    blob *= 1.0 / 255.0
    return blob, Letterbox(new_w / src_w, new_h / src_h, pad_x, pad_y, src_w, src_h)


def unletterbox(boxes: np.ndarray, lb: Letterbox) -> np.ndarray:
    """``[K, 4]`` x1y1x2y2 boxes in network pixels → source-image pixels, clipped to the image."""
    out = np.empty_like(boxes, dtype=np.float32)
    out[:, [0, 2]] = (boxes[:, [0, 2]] - lb.pad_x) / lb.scale_x
    out[:, [1, 3]] = (boxes[:, [1, 3]] - lb.pad_y) / lb.scale_y
    out[:, [0, 2]] = np.clip(out[:, [0, 2]], 0, lb.src_w)
    out[:, [1, 3]] = np.clip(out[:, [1, 3]], 0, lb.src_h)
    return out
