"""Alarm snapshots: a JPEG of the frame with the object's box and the zone/line drawn.

Retention is bounded by file count and bytes; the oldest files go first. The index is built
from the directory at start, so a restarted worker keeps honouring the bound.
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import structlog

from edged.pipelines.geometry import Box, Point

log = structlog.get_logger("edged.camera.snapshots")


class SnapshotStore:
    def __init__(self, directory: Path, max_files: int = 500, max_bytes: int = 200 << 20, quality: int = 85):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.max_files = max_files
        self.max_bytes = max_bytes
        self.quality = quality
        files = sorted((p.stat().st_mtime, p) for p in self.dir.glob("*.jpg"))
        self._files: deque[tuple[Path, int]] = deque((p, p.stat().st_size) for _, p in files)
        self._bytes = sum(size for _, size in self._files)
        self._prune()

    def save(
        self,
        name: str,
        image: np.ndarray,
        box: Box,
        label: str,
        shape: Sequence[Point] = (),
        closed: bool = True,
    ) -> Path | None:
        """Draw and write `<name>.jpg`; None (logged) when the disk refuses."""
        canvas = image.copy()
        if len(shape) >= 2:
            pts = np.round(np.asarray(shape, dtype=np.float32)).astype(np.int32).reshape(-1, 1, 2)
            cv2.polylines(canvas, [pts], closed, (0, 200, 255), 2, cv2.LINE_AA)
        x1, y1, x2, y2 = (round(v) for v in box)
        cv2.rectangle(canvas, (x1, y1), (x2, y2), (0, 0, 255), 2)
        cv2.putText(
            canvas, label, (x1, max(12, y1 - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 255), 1, cv2.LINE_AA
        )
        ok, jpeg = cv2.imencode(".jpg", canvas, [cv2.IMWRITE_JPEG_QUALITY, self.quality])
        if not ok:
            return None
        path = self.dir / f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}_{name}.jpg"
        tmp = path.with_suffix(".tmp")
        try:
            tmp.write_bytes(jpeg.tobytes())
            os.replace(tmp, path)
        except OSError as exc:
            log.warning("snapshot not written", path=str(path), error=str(exc))
            tmp.unlink(missing_ok=True)
            return None
        self._files.append((path, len(jpeg)))
        self._bytes += len(jpeg)
        self._prune()
        return path

    def _prune(self) -> None:
        while self._files and (len(self._files) > self.max_files or self._bytes > self.max_bytes):
            path, size = self._files.popleft()
            path.unlink(missing_ok=True)
            self._bytes -= size

    @property
    def count(self) -> int:
        return len(self._files)
