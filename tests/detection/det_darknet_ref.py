"""A slow, literal numpy restatement of darknet's forward pass (forward_*_layer in darknet's C),
used to check the converter's graph on small random models. Written from darknet's semantics,
not from the converter: BN is applied unfolded, maxpool pads with -inf at darknet's offset."""

from __future__ import annotations

import numpy as np

from edged.detection.darknet_cfg import Section

EPS = 1e-6


def _conv(x: np.ndarray, w: np.ndarray, stride: int, pad: int) -> np.ndarray:
    _, h, wd = x.shape
    f, _, k, _ = w.shape
    xp = np.pad(x, ((0, 0), (pad, pad), (pad, pad)))
    oh, ow = (h + 2 * pad - k) // stride + 1, (wd + 2 * pad - k) // stride + 1
    out = np.zeros((f, oh, ow), np.float64)
    for i in range(k):
        for j in range(k):
            patch = xp[:, i : i + stride * oh : stride, j : j + stride * ow : stride]
            out += np.einsum("chw,fc->fhw", patch, w[:, :, i, j])
    return out


def _maxpool(x: np.ndarray, size: int, stride: int, padding: int) -> np.ndarray:
    c, h, w = x.shape
    oh, ow = (h + padding - size) // stride + 1, (w + padding - size) // stride + 1
    offset = -(padding // 2)
    out = np.full((c, oh, ow), -np.inf)
    for i in range(oh):
        for j in range(ow):
            for n in range(size):
                for m in range(size):
                    y, xx = i * stride + offset + n, j * stride + offset + m
                    if 0 <= y < h and 0 <= xx < w:
                        out[:, i, j] = np.maximum(out[:, i, j], x[:, y, xx])
    return out


def forward(sections: list[Section], weights: np.ndarray, image: np.ndarray) -> list[np.ndarray]:
    """Outputs of every [yolo] layer's input (the raw head tensors) for one CHW image."""
    pos = 0

    def take(n: int) -> np.ndarray:
        nonlocal pos
        out = weights[pos : pos + n].astype(np.float64)
        pos += n
        return out

    layers: list[np.ndarray] = []
    heads: list[np.ndarray] = []
    x = image.astype(np.float64)
    for idx, sec in enumerate(sections[1:]):
        if sec.kind == "convolutional":
            f, k = sec.get_int("filters"), sec.get_int("size")
            bias = take(f)
            bn = sec.get_int("batch_normalize", 0)
            if bn:
                scales, mean, var = take(f), take(f), take(f)
            w = take(f * x.shape[0] * k * k).reshape(f, x.shape[0], k, k)
            y = _conv(x, w, sec.get_int("stride", 1), k // 2 if sec.get_int("pad", 0) else 0)
            if bn:
                y = (y - mean[:, None, None]) / np.sqrt(var[:, None, None] + EPS)
                y = y * scales[:, None, None]
            y = y + bias[:, None, None]
            if sec.get_str("activation", "logistic") == "leaky":
                y = np.where(y > 0, y, 0.1 * y)
            x = y
        elif sec.kind == "maxpool":
            size = sec.get_int("size")
            x = _maxpool(x, size, sec.get_int("stride"), sec.get_int("padding", size - 1))
        elif sec.kind == "upsample":
            s = sec.get_int("stride")
            x = x.repeat(s, axis=1).repeat(s, axis=2)
        elif sec.kind == "route":
            refs = [idx + r if r < 0 else r for r in sec.get_ints("layers")]
            x = np.concatenate([layers[r] for r in refs], axis=0)
        elif sec.kind == "shortcut":
            x = x + layers[idx + sec.get_int("from")]
        elif sec.kind == "yolo":
            heads.append(x)
        layers.append(x)
    assert pos == weights.size, "reference did not consume every weight"
    return heads
