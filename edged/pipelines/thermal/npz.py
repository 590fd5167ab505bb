"""`.npz` replay in design.md's format: tests, the demo and `edged analyze thermal`.

Keys: ``frames`` (uint16 T x H x W counts), ``ts`` (float64 seconds, length T), ``gain`` and
``offset`` (kelvin = counts * gain + offset; scalars, or length T), optional ``ffc`` (bool, T).
Optional extensions of ours: ``visible`` (T x h x w x 3 uint8 BGR) with ``homography`` (3 x 3,
visible -> thermal pixels). Loaded with ``allow_pickle=False``: an npz never runs code.
"""

from __future__ import annotations

import time
import zipfile
from pathlib import Path

import numpy as np

from edged.pipelines.thermal.frame import ThermalFrame
from edged.pipelines.thermal.sources import SourceError


class NpzSource:
    """Frames of one npz in order; optionally paced to their timestamps and looped (demo)."""

    def __init__(self, path: str | Path, *, pace: bool = False, loop: bool = False) -> None:
        self.path = Path(path)
        try:
            self._load()
        except (OSError, ValueError, zipfile.BadZipFile) as exc:  # object arrays: allow_pickle=False refuses
            raise SourceError(f"{self.path}: cannot read npz: {exc}") from exc
        n = len(self.frames)
        if self.frames.ndim != 3 or self.frames.dtype != np.uint16:
            raise SourceError(
                f"{self.path}: `frames` must be uint16 T x H x W, got {self.frames.dtype} {self.frames.shape}"
            )
        if len(self.ts) != n or (self.ffc is not None and len(self.ffc) != n):
            raise SourceError(f"{self.path}: `ts`/`ffc` length differs from the {n} frames")
        if self.visible is not None and len(self.visible) != n:
            raise SourceError(f"{self.path}: `visible` length differs from the {n} frames")
        self.pace = pace
        self.loop = loop
        self._i = 0
        self._lap = 0
        self._t0_wall: float | None = None
        period = float(np.median(np.diff(self.ts))) if n > 1 else 0.1
        self._lap_s = float(self.ts[-1] - self.ts[0]) + period if n else 0.0

    def _load(self) -> None:
        with np.load(self.path, allow_pickle=False) as data:
            if "frames" not in data or "ts" not in data:
                raise SourceError(f"{self.path}: npz needs `frames` and `ts`")
            self.frames = np.asarray(data["frames"])
            self.ts = np.asarray(data["ts"], dtype=np.float64)
            n = len(self.frames)
            self.gain = _per_frame(data, "gain", n, 0.01)
            self.offset = _per_frame(data, "offset", n, 0.0)
            self.ffc = np.asarray(data["ffc"], dtype=bool) if "ffc" in data else None
            self.visible = np.asarray(data["visible"]) if "visible" in data else None
            self.homography = (
                np.asarray(data["homography"], dtype=np.float64) if "homography" in data else None
            )

    def __len__(self) -> int:
        return len(self.frames)

    def read(self) -> ThermalFrame | None:
        n = len(self.frames)
        if n == 0:
            return None
        if self._i >= n:
            if not self.loop:
                return None
            self._i = 0
            self._lap += 1
        i = self._i
        self._i += 1
        t = float(self.ts[i] - self.ts[0]) + self._lap * self._lap_s
        if self.pace:
            if self._t0_wall is None:
                self._t0_wall = time.monotonic() - t
            delay = self._t0_wall + t - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        return ThermalFrame(
            counts=self.frames[i],
            gain=float(self.gain[i]),
            offset=float(self.offset[i]),
            t=t,
            wall=time.time(),
            index=self._lap * n + i,
            ffc=bool(self.ffc[i]) if self.ffc is not None else None,
            visible=self.visible[i] if self.visible is not None else None,
            homography=self.homography,
        )

    def close(self) -> None:
        self._i = len(self.frames)
        self.loop = False


def _per_frame(data: np.lib.npyio.NpzFile, key: str, n: int, default: float) -> np.ndarray:
    if key not in data:
        return np.full(n, default)
    value = np.asarray(data[key], dtype=np.float64).reshape(-1)
    if value.size == 1:
        return np.full(n, float(value[0]))
    if value.size != n:
        raise SourceError(f"`{key}` must be a scalar or one value per frame")
    return value


def save_npz(
    path: str | Path,
    frames: np.ndarray,
    ts: np.ndarray,
    gain: float,
    offset: float,
    ffc: np.ndarray | None = None,
    visible: np.ndarray | None = None,
    homography: np.ndarray | None = None,
) -> None:
    """Write a clip in the same format (compressed: thermal scenes compress ~4x)."""
    arrays: dict[str, np.ndarray] = {
        "frames": np.asarray(frames, dtype=np.uint16),
        "ts": np.asarray(ts, dtype=np.float64),
        "gain": np.asarray(gain, dtype=np.float64),
        "offset": np.asarray(offset, dtype=np.float64),
    }
    if ffc is not None:
        arrays["ffc"] = np.asarray(ffc, dtype=bool)
    if visible is not None:
        arrays["visible"] = np.asarray(visible, dtype=np.uint8)
    if homography is not None:
        arrays["homography"] = np.asarray(homography, dtype=np.float64)
    np.savez_compressed(Path(path), **arrays)  # type: ignore[arg-type]
