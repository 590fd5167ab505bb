"""Read darknet's two model files: the INI-like ``.cfg`` and the flat float32 ``.weights``.

Kept apart from the graph builder so each can be tested on its own: the parser knows the
file formats, the builder (darknet_onnx.py) knows the layer semantics.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


class DarknetFormatError(ValueError):
    """The .cfg or .weights file is not what the converter understands."""


@dataclass
class Section:
    kind: str  # "net", "convolutional", "maxpool", "route", "upsample", "shortcut", "yolo"
    options: dict[str, str] = field(default_factory=dict)
    line: int = 0

    def get_int(self, key: str, default: int | None = None) -> int:
        raw = self.options.get(key)
        if raw is None:
            if default is None:
                raise DarknetFormatError(f"[{self.kind}] (line {self.line}) needs {key}=")
            return default
        try:
            return int(raw)
        except ValueError as exc:
            raise DarknetFormatError(f"[{self.kind}] (line {self.line}) {key}={raw}: not an int") from exc

    def get_float(self, key: str, default: float) -> float:
        raw = self.options.get(key)
        return default if raw is None else float(raw)

    def get_str(self, key: str, default: str) -> str:
        return self.options.get(key, default)

    def get_ints(self, key: str) -> list[int]:
        raw = self.options.get(key, "")
        return [int(part) for part in raw.replace(" ", "").split(",") if part != ""]


def parse_cfg(text: str) -> list[Section]:
    """Sections in file order; ``[net]`` first. Comments (#, ;) and blank lines are skipped."""
    sections: list[Section] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].split(";", 1)[0].strip()
        if not line:
            continue
        if line.startswith("["):
            if not line.endswith("]"):
                raise DarknetFormatError(f"line {number}: unterminated section header {line!r}")
            sections.append(Section(kind=line[1:-1].strip().lower(), line=number))
            continue
        if "=" not in line:
            raise DarknetFormatError(f"line {number}: expected key=value, got {line!r}")
        if not sections:
            raise DarknetFormatError(f"line {number}: option before the first [section]")
        key, value = line.split("=", 1)
        sections[-1].options[key.strip()] = value.strip()
    if not sections or sections[0].kind not in ("net", "network"):
        raise DarknetFormatError("a darknet cfg starts with a [net] section")
    return sections


def read_cfg(path: Path) -> list[Section]:
    return parse_cfg(path.read_text(encoding="utf-8"))


class WeightsReader:
    """Sequential reader over a darknet .weights file; the converter must consume it exactly."""

    def __init__(self, data: bytes) -> None:
        header = np.frombuffer(data, dtype="<i4", count=3)
        if header.size < 3:
            raise DarknetFormatError("weights file shorter than its header")
        major, minor, _revision = (int(v) for v in header)
        # Darknet wrote `seen` as int64 from format 0.2 on (and int32 before).
        seen_bytes = 8 if (major * 10 + minor) >= 2 and major < 1000 and minor < 1000 else 4
        self.version = (major, minor)
        offset = 12 + seen_bytes
        body = data[offset:]
        if len(body) % 4:
            raise DarknetFormatError("weights body is not a whole number of float32 values")
        self._floats = np.frombuffer(body, dtype="<f4")
        self._pos = 0

    @classmethod
    def open(cls, path: Path) -> WeightsReader:
        return cls(path.read_bytes())

    def take(self, count: int) -> np.ndarray:
        end = self._pos + count
        if end > self._floats.size:
            raise DarknetFormatError(
                f"weights file too short: layer needs {count} values at {self._pos}, "
                f"only {self._floats.size - self._pos} left (cfg and weights do not match)"
            )
        out = self._floats[self._pos : end].astype(np.float32)
        self._pos = end
        return out

    @property
    def remaining(self) -> int:
        return int(self._floats.size - self._pos)
