"""Build a tiny ONNX model, with the onnx helper API, that behaves like a YOLOv8 export:
input ``images [B, 3, H, W]``, output ``[B, 4+C, N]`` equal to a tensor we choose — so the
adapter's decoding runs through onnxruntime for real with a known answer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def build(
    path: Path,
    raw: np.ndarray,
    input_hw: tuple[int, int] = (320, 320),
    batch: int | str = "batch",
    names: dict[int, str] | None = None,
    transposed: bool = False,
) -> Path:
    """``raw`` is ``[4+C, N]``; every batch item gets it (plus 0 x the mean of its pixels, so
    the output really depends on the input tensor and the graph cannot be folded away)."""
    table = raw.T if transposed else raw
    const = numpy_helper.from_array(table[None].astype(np.float32), "table")
    zero = numpy_helper.from_array(np.zeros(1, np.float32), "zero")
    nodes = [
        helper.make_node("ReduceMean", ["images"], ["mean"], axes=[1, 2, 3], keepdims=1),  # B,1,1,1
        helper.make_node("Squeeze", ["mean", "sq_axes"], ["mean_b"]),  # B
        helper.make_node("Mul", ["mean_b", "zero"], ["zeros_b"]),
        helper.make_node("Unsqueeze", ["zeros_b", "unsq_axes"], ["zeros_b11"]),  # B,1,1
        helper.make_node("Add", ["zeros_b11", "table"], ["output0"]),  # B,4+C,N
    ]
    inits = [
        const,
        zero,
        numpy_helper.from_array(np.array([1, 2, 3], np.int64), "sq_axes"),
        numpy_helper.from_array(np.array([1, 2], np.int64), "unsq_axes"),
    ]
    h, w = input_hw
    out_shape = [batch, *table.shape]
    graph = helper.make_graph(
        nodes,
        "yolov8_like",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [batch, 3, h, w])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, out_shape)],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    if names is not None:
        helper.set_model_props(model, {"names": repr(names), "task": "detect"})
    onnx.checker.check_model(model)
    path.write_bytes(model.SerializeToString())
    return path


def column(
    cx: float, cy: float, w: float, h: float, scores: dict[int, float], classes: int = 80
) -> np.ndarray:
    col = np.zeros(4 + classes, np.float32)
    col[:4] = (cx, cy, w, h)
    for c, s in scores.items():
        col[4 + c] = s
    return col
