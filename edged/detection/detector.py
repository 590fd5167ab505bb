"""A loaded detector: session + adapter + letterbox + NMS, over batches of image regions.

Used three ways with the same code: the detector worker (batches across cameras), `edged
detect` (files), and in-process by benchmarks ("bare bound"). A *job* is one region of one
image; the caller groups jobs back into frames. Jobs with the same network input shape are
stacked into one inference call (up to ``max_batch``, or one at a time for a model exported
with a fixed batch of 1).
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edged.config.detectors import AnyDetector, YoloDarknetDetector
from edged.detection.adapters import Adapter, DarknetYoloAdapter, ModelLayoutError, UltralyticsAdapter
from edged.detection.letterbox import Letterbox, as_bgr, letterbox, target_shape, unletterbox
from edged.detection.models import resolve_model
from edged.detection.nms import batched_nms
from edged.detection.session import open_session
from edged.detection.types import Detection

MIN_ROI_PX = 16


@dataclass
class Job:
    image: np.ndarray  # BGR uint8 (already cropped to the region)
    offset: tuple[int, int] = (0, 0)  # region's top-left in the full frame
    blob: np.ndarray | None = None
    lb: Letterbox | None = None
    detections: list[Detection] = field(default_factory=list)


@dataclass
class BatchStats:
    batches: list[tuple[int, float]] = field(default_factory=list)  # (size, inference seconds)

    @property
    def infer_s(self) -> float:
        return sum(s for _, s in self.batches)


def _dim(value: object) -> int | None:
    return value if isinstance(value, int) and value > 0 else None


class Detector:
    def __init__(self, cfg: AnyDetector) -> None:
        self.cfg = cfg
        self.model_path: Path = resolve_model(cfg.model)
        self.session = open_session(self.model_path, list(cfg.providers), cfg.device_id, cfg.threads)
        inp = self.session.get_inputs()[0]
        if len(inp.shape) != 4:
            raise ModelLayoutError(f"model input {inp.name} has shape {inp.shape}, expected [N, 3, H, W]")
        self.input_name = inp.name
        self.fixed_batch = _dim(inp.shape[0])
        fixed_h, fixed_w = _dim(inp.shape[2]), _dim(inp.shape[3])
        self.fixed_hw = (fixed_h, fixed_w) if fixed_h and fixed_w else None
        self.size = max(self.fixed_hw) if self.fixed_hw else cfg.input_size
        self.rect = cfg.rect and self.fixed_hw is None
        metadata = dict(self.session.get_modelmeta().custom_metadata_map)
        outputs = self.session.get_outputs()
        self.adapter: Adapter
        if isinstance(cfg, YoloDarknetDetector):
            self.adapter = DarknetYoloAdapter(metadata)
        else:
            self.adapter = UltralyticsAdapter(metadata, outputs[0].name, list(outputs[0].shape))
        self.output_names = [o.name for o in outputs]
        self._keep: set[str] | None = set(cfg.classes) if cfg.classes else None

    @property
    def labels(self) -> list[str]:
        return self.adapter.names

    def describe(self) -> dict[str, object]:
        return {
            "name": self.cfg.name,
            "type": self.cfg.type,
            "model": str(self.model_path),
            "input_size": self.size,
            "providers": self.session.get_providers(),
        }

    # -- preparation -----------------------------------------------------------------------

    def net_shape(self, h: int, w: int) -> tuple[int, int]:
        if self.fixed_hw:
            return self.fixed_hw[0] or self.size, self.fixed_hw[1] or self.size
        return target_shape(h, w, self.size, rect=self.rect)

    def prepare(self, job: Job) -> None:
        h, w = job.image.shape[:2]
        job.blob, job.lb = letterbox(job.image, *self.net_shape(h, w))

    # -- inference -------------------------------------------------------------------------

    def run(self, jobs: list[Job], stats: BatchStats | None = None) -> None:
        """Detect in every prepared job (fills ``job.detections``)."""
        groups: dict[tuple[int, ...], list[Job]] = defaultdict(list)
        for job in jobs:
            if job.blob is None:
                self.prepare(job)
            assert job.blob is not None
            groups[job.blob.shape].append(job)
        step = self.fixed_batch or self.cfg.max_batch
        for members in groups.values():
            for start in range(0, len(members), step):
                self._run_batch(members[start : start + step], stats)

    def _run_batch(self, jobs: list[Job], stats: BatchStats | None) -> None:
        batch = np.stack([j.blob for j in jobs if j.blob is not None])
        t0 = time.perf_counter()
        raw = self.session.run(None, {self.input_name: batch})
        elapsed = time.perf_counter() - t0
        if stats is not None:
            stats.batches.append((len(jobs), elapsed))
        outputs = dict(zip(self.output_names, raw, strict=True))
        net_h, net_w = batch.shape[2:]
        candidates = self.adapter.decode(outputs, net_h, net_w, self.cfg.score_threshold)
        for job, (boxes, scores, classes) in zip(jobs, candidates, strict=True):
            assert job.lb is not None
            job.detections = self._finish(boxes, scores, classes, job.lb, job.offset)

    def _finish(
        self,
        boxes: np.ndarray,
        scores: np.ndarray,
        classes: np.ndarray,
        lb: Letterbox,
        offset: tuple[int, int],
    ) -> list[Detection]:
        if scores.size == 0:
            return []
        boxes = unletterbox(boxes, lb)
        keep = batched_nms(boxes, scores, classes, self.cfg.nms_iou, self.cfg.max_detections)
        names = self.adapter.names
        out: list[Detection] = []
        for i in keep:
            c = int(classes[i])
            label = names[c] if c < len(names) else str(c)
            if self._keep is not None and label not in self._keep:
                continue
            x1, y1, x2, y2 = (float(v) for v in boxes[i])
            if x2 - x1 < 1 or y2 - y1 < 1:
                continue
            ox, oy = offset
            out.append(Detection(c, label, float(scores[i]), (x1 + ox, y1 + oy, x2 + ox, y2 + oy)))
        return out

    # -- convenience -----------------------------------------------------------------------

    def detect(self, images: list[np.ndarray], stats: BatchStats | None = None) -> list[list[Detection]]:
        """Whole-image detection for each image (any of grey / BGR / BGRA uint8)."""
        jobs = [Job(as_bgr(img)) for img in images]
        self.run(jobs, stats)
        return [j.detections for j in jobs]

    def merge(self, parts: list[list[Detection]]) -> list[Detection]:
        """Detections of one frame found in several (overlapping) regions → one NMS'd list."""
        flat = [d for part in parts for d in part]
        if len(parts) <= 1 or not flat:
            return flat
        boxes = np.asarray([d.box for d in flat], dtype=np.float32)
        scores = np.asarray([d.score for d in flat], dtype=np.float32)
        classes = np.asarray([d.cls for d in flat], dtype=np.int64)
        keep = batched_nms(boxes, scores, classes, self.cfg.nms_iou, self.cfg.max_detections)
        return [flat[i] for i in keep]


def region_jobs(frame: np.ndarray, rois: list[list[float]] | None, max_rois: int = 8) -> list[Job]:
    """Jobs for a frame: the whole frame, or its (clipped) regions of interest.

    Regions smaller than MIN_ROI_PX on a side are grown (kept inside the frame); more than
    ``max_rois`` regions (or none valid) fall back to the whole frame — never detect nothing.
    """
    frame = as_bgr(frame)
    h, w = frame.shape[:2]
    if not rois or len(rois) > max_rois:
        return [Job(frame)]
    jobs: list[Job] = []
    for roi in rois:
        x1, y1, x2, y2 = (float(v) for v in roi)
        if not all(np.isfinite([x1, y1, x2, y2])) or x2 <= x1 or y2 <= y1:
            continue
        xs, ys = _span(x1, x2, w), _span(y1, y2, h)
        if xs and ys:
            jobs.append(Job(frame[ys[0] : ys[1], xs[0] : xs[1]], (xs[0], ys[0])))
    return jobs or [Job(frame)]


def _span(lo: float, hi: float, limit: int) -> tuple[int, int] | None:
    """Integer [lo, hi) clipped to [0, limit), grown to MIN_ROI_PX (staying inside); None if empty."""
    a, b = max(0, int(np.floor(lo))), min(limit, int(np.ceil(hi)))
    if b <= a:
        return None
    size = min(limit, max(b - a, MIN_ROI_PX))
    start = min(max(0, a - (size - (b - a)) // 2), limit - size)
    return start, start + size
