"""Synthetic clips with known ground truth: coloured boxes moving over a textured still scene."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

W, H, FPS = 640, 360, 25


@dataclass
class Mover:
    """A box (w×h) whose bottom-centre moves along `path` [(t, x, y), ...], linearly between."""

    path: list[tuple[float, float, float]]
    w: int = 40
    h: int = 80
    color: tuple[int, int, int] = (20, 20, 230)

    def at(self, t: float) -> tuple[float, float] | None:
        ts = [p[0] for p in self.path]
        if t < ts[0] or t > ts[-1]:
            return None
        x = float(np.interp(t, ts, [p[1] for p in self.path]))
        y = float(np.interp(t, ts, [p[2] for p in self.path]))
        return x, y


def background(seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    small = rng.integers(90, 150, (H // 20, W // 20, 3), dtype=np.uint8)
    img = np.kron(small, np.ones((20, 20, 1), np.uint8))
    return np.ascontiguousarray(img)


def render(movers: list[Mover], t: float, bg: np.ndarray) -> np.ndarray:
    img = bg.copy()
    for mv in movers:
        pos = mv.at(t)
        if pos is None:
            continue
        x, y = pos
        x1, y1 = max(0, round(x - mv.w / 2)), max(0, round(y - mv.h))
        x2, y2 = min(W, round(x + mv.w / 2)), min(H, round(y))
        img[y1:y2, x1:x2] = mv.color
    return img


def write_clip(path: Path, movers: list[Mover], duration: float, fps: int = FPS) -> Path:
    """H.264 .mp4 via the ffmpeg CLI (so the RTSP server can stream it unchanged)."""
    bg = background()
    cmd = [
        "ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "bgr24",
        "-s", f"{W}x{H}", "-r", str(fps), "-i", "-", "-c:v", "libx264", "-preset", "ultrafast",
        "-tune", "zerolatency", "-g", str(fps), "-bf", "0", "-pix_fmt", "yuv420p", str(path),
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE)
    assert proc.stdin is not None
    for i in range(round(duration * fps)):
        proc.stdin.write(render(movers, i / fps, bg).tobytes())
    proc.stdin.close()
    assert proc.wait(60) == 0
    return path
