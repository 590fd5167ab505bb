"""The camera ↔ detector wire protocol (msgpack envelopes from edged.bus.envelope).

Request  ``detect``     {id, camera, ring, slot, seq, t_capture, rois?}
Reply    ``detections`` {id, camera, seq, detections: [{cls, label, score, box}], infer_s, queue_s}
Reply    ``dropped``    {id, camera, seq, reason}   — answered without inference, so the
                        camera's credit comes back at once instead of at its timeout.

Pixels never travel: ``ring``/``slot``/``seq`` name a frame in the camera's shared-memory
ring. ``t_capture`` is wall-clock (time.time()) at capture; the staleness budget uses it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from edged.bus.envelope import MalformedMessage
from edged.detection.types import Detection

DETECT = "detect"
DETECTIONS = "detections"
DROPPED = "dropped"
REQUEST_KINDS = frozenset({DETECT})
REPLY_KINDS = frozenset({DETECTIONS, DROPPED})
MAX_ROIS = 16
_RING_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,200}$")  # a file name in /dev/shm, no paths


@dataclass(frozen=True, slots=True)
class DetectRequest:
    id: int
    camera: str
    ring: str
    slot: int
    seq: int
    t_capture: float
    rois: list[list[float]] | None = None

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "camera": self.camera,
            "ring": self.ring,
            "slot": self.slot,
            "seq": self.seq,
            "t_capture": self.t_capture,
        }
        if self.rois is not None:
            body["rois"] = self.rois
        return body

    @classmethod
    def from_body(cls, body: Any) -> DetectRequest:
        """Validate a received body; MalformedMessage on anything off-spec."""
        if not isinstance(body, dict):
            raise MalformedMessage("detect body is not a map")
        try:
            req = cls(
                id=_int(body["id"]),
                camera=_str(body["camera"]),
                ring=_str(body["ring"]),
                slot=_int(body["slot"]),
                seq=_int(body["seq"]),
                t_capture=float(body["t_capture"]),
                rois=_rois(body.get("rois")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise MalformedMessage(f"bad detect request: {exc!r}") from exc
        if not _RING_NAME.match(req.ring) or req.slot < 0 or req.seq < 1 or not math.isfinite(req.t_capture):
            raise MalformedMessage("bad detect request: ring/slot/seq/t_capture out of range")
        return req


@dataclass(frozen=True, slots=True)
class DetectReply:
    id: int
    camera: str
    seq: int
    detections: list[Detection]
    infer_s: float = 0.0
    queue_s: float = 0.0
    dropped: str | None = None  # reason, when the detector answered without inference

    @classmethod
    def from_envelope(cls, kind: str, body: Any) -> DetectReply:
        if not isinstance(body, dict):
            raise MalformedMessage("reply body is not a map")
        try:
            if kind == DROPPED:
                return cls(
                    _int(body["id"]),
                    _str(body["camera"]),
                    _int(body["seq"]),
                    [],
                    dropped=_str(body["reason"]),
                )
            return cls(
                _int(body["id"]),
                _str(body["camera"]),
                _int(body["seq"]),
                [Detection.from_dict(d) for d in body["detections"]],
                float(body["infer_s"]),
                float(body["queue_s"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise MalformedMessage(f"bad {kind} reply: {exc!r}") from exc


def detections_body(
    req: DetectRequest, detections: list[Detection], infer_s: float, queue_s: float
) -> dict[str, Any]:
    return {
        "id": req.id,
        "camera": req.camera,
        "seq": req.seq,
        "detections": [d.to_dict() for d in detections],
        "infer_s": round(infer_s, 6),
        "queue_s": round(queue_s, 6),
    }


def dropped_body(req: DetectRequest, reason: str) -> dict[str, Any]:
    return {"id": req.id, "camera": req.camera, "seq": req.seq, "reason": reason}


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected int, got {type(value).__name__}")
    return value


def _str(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise TypeError(f"expected a non-empty string, got {type(value).__name__}")
    return value


def _rois(value: Any) -> list[list[float]] | None:
    if value is None:
        return None
    if not isinstance(value, list) or len(value) > MAX_ROIS:
        raise ValueError(f"rois must be a list of at most {MAX_ROIS} boxes")
    out = []
    for roi in value:
        if not isinstance(roi, list | tuple) or len(roi) != 4:
            raise ValueError("each roi is [x1, y1, x2, y2]")
        out.append([float(v) for v in roi])
    return out
