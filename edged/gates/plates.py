"""Chinese mainland plates from one camera frame: RapidOCR (PP-OCRv4 in the wheel) + a validator.

RapidOCR finds and reads every text line in the frame (or the configured region); plates are
one line (渝A·12345) or, on some trucks and old plates, two (渝A / 12345), so single lines and
joins of neighbouring lines in reading order are tried and the most confident candidate that
is a valid plate wins. The validator is what keeps OCR of shop signs and banners out of the
whitelist decision: anything that is not province + letter + serial is refused.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from edged.gates.passes import normalize_plate

PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
_L = "A-HJ-NP-Z"  # plate letters: never I or O (they read as 1 and 0)
PLATE_RE = re.compile(
    rf"^[{PROVINCES}][A-Z]"
    rf"(?:[{_L}0-9]{{5}}"  # standard blue / yellow
    rf"|[{_L}0-9]{{4}}[挂学警港澳领]"  # trailer, driving school, police, HK / Macau, consulate
    rf"|[DF][{_L}0-9][0-9]{{4}}"  # new energy, small (green): D electric, F hybrid
    rf"|[0-9]{{5}}[DF])$"  # new energy, large
)
_MAX_JOIN = 2  # lines joined into one candidate (two-row plates)


def valid_plate(text: str) -> str | None:
    """The normalised plate (渝A12345) when `text` is a mainland plate, else None."""
    plate = normalize_plate(text)
    return plate if PLATE_RE.match(plate) else None


@dataclass(frozen=True)
class PlateRead:
    """What one frame gave: `result` is ``read`` (then `plate` is set) or why no decision."""

    result: str  # read, no_text, invalid, low_confidence
    plate: str | None = None
    confidence: float = 0.0
    box: tuple[int, int, int, int] | None = None  # x, y, w, h in frame pixels
    text: str = ""  # what the OCR saw (best candidate), for the log


@dataclass(frozen=True)
class _Line:
    text: str
    score: float
    x0: float
    y0: float
    x1: float
    y1: float


@functools.lru_cache(maxsize=2)
def ocr_engine(threads: int = 1) -> Any:
    """One RapidOCR per process and thread count: loading its three ONNX models takes ~0.3 s."""
    from rapidocr_onnxruntime import RapidOCR

    return RapidOCR(
        intra_op_num_threads=threads,
        inter_op_num_threads=1,
        use_cls=False,  # plate cameras are mounted upright: the 180° classifier only costs time
        det_limit_type="max",  # never upscale a region of interest (the default makes its short side 736)
        det_limit_side_len=960,
    )


class PlateReader:
    """Reads a plate from a BGR frame. Use it from one thread: the OCR engine is not re-entrant."""

    def __init__(self, threads: int = 1) -> None:
        self._engine = ocr_engine(threads)

    def read(
        self, frame: np.ndarray, roi: tuple[int, int, int, int] | None = None, min_confidence: float = 0.8
    ) -> PlateRead:
        image, (ox, oy) = _crop(frame, roi)
        if image.size == 0:
            return PlateRead("no_text")
        found, _elapsed = self._engine(np.ascontiguousarray(image))
        lines = [_line(item, ox, oy) for item in found or []]
        return best_plate([ln for ln in lines if ln.text], min_confidence)


def best_plate(lines: list[_Line], min_confidence: float) -> PlateRead:
    """Pick the most confident valid plate among single lines and joins of neighbours."""
    if not lines:
        return PlateRead("no_text")
    ordered = _reading_order(lines)
    best: tuple[float, str, list[_Line]] | None = None
    for i in range(len(ordered)):
        for n in range(1, _MAX_JOIN + 1):
            group = ordered[i : i + n]
            if len(group) < n:
                break
            plate = valid_plate("".join(ln.text for ln in group))
            score = min(ln.score for ln in group)
            if plate is not None and (best is None or score > best[0]):
                best = (score, plate, group)
    if best is None:
        top = max(lines, key=lambda ln: ln.score)
        return PlateRead("invalid", confidence=top.score, box=_box([top]), text=top.text[:64])
    score, plate, group = best
    text = "".join(ln.text for ln in group)
    if score < min_confidence:
        return PlateRead("low_confidence", None, score, _box(group), text[:64])
    return PlateRead("read", plate, score, _box(group), text[:64])


def _reading_order(lines: list[_Line]) -> list[_Line]:
    """Rows top to bottom (a line whose centre is inside a row's span joins it), each left to right."""
    rows: list[list[_Line]] = []
    for ln in sorted(lines, key=lambda ln: (ln.y0 + ln.y1) / 2):
        centre = (ln.y0 + ln.y1) / 2
        if rows and rows[-1][0].y0 <= centre <= rows[-1][0].y1:
            rows[-1].append(ln)
        else:
            rows.append([ln])
    return [ln for row in rows for ln in sorted(row, key=lambda ln: ln.x0)]


def _crop(frame: np.ndarray, roi: tuple[int, int, int, int] | None) -> tuple[np.ndarray, tuple[int, int]]:
    if frame.ndim == 2:
        frame = np.repeat(frame[:, :, None], 3, axis=2)
    elif frame.shape[2] == 1:
        frame = np.repeat(frame, 3, axis=2)
    if roi is None:
        return frame, (0, 0)
    x, y, w, h = roi
    return frame[y : y + h, x : x + w], (x, y)  # clipped by slicing when it leaves the frame


def _line(item: Any, ox: int, oy: int) -> _Line:
    points, text, score = item[0], item[1], item[2]
    xs = [float(p[0]) for p in points]
    ys = [float(p[1]) for p in points]
    return _Line(str(text), float(score), min(xs) + ox, min(ys) + oy, max(xs) + ox, max(ys) + oy)


def _box(lines: list[_Line]) -> tuple[int, int, int, int]:
    x0, y0 = min(ln.x0 for ln in lines), min(ln.y0 for ln in lines)
    x1, y1 = max(ln.x1 for ln in lines), max(ln.y1 for ln in lines)
    return int(x0), int(y0), round(x1 - x0), round(y1 - y0)
