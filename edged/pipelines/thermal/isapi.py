"""Hikvision thermography over ISAPI: ``GET .../thermometry/jpegPicWithAppendData?format=json``.

The camera answers (HTTP digest auth) with a multipart body, in this order:
1. ``application/json``: ``{"JpegPictureWithAppendData": {"jpegPicWidth", "jpegPicHeight",
   "jpegPicLen", "p2pDataLen", "temperatureDataLength", "scale", "offset", "isFreezedata", ...}}``;
2. ``image/jpeg``: the pseudo-colour thermal picture (not radiometric, ignored);
3. ``application/octet-stream``: the per-pixel temperature matrix ("p2p data"): float32 °C when
   ``temperatureDataLength`` is 4, else int16 with ``kelvin = raw / scale + offset``;
4. optionally ``image/jpeg``: the visible-light picture of dual-spectrum models.
We store temperatures as centi-kelvin counts (0.01 K steps, well under NETD). The visible picture
is decoded only when the camera section registers it (`thermal.visible`): without the homography
its faces cannot be placed on thermal pixels.
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import cv2
import numpy as np
import structlog

from edged.pipelines.thermal import metrics as m
from edged.pipelines.thermal.frame import ThermalFrame, to_counts
from edged.pipelines.thermal.sources import SourceError

PATH = "/ISAPI/Thermal/channels/{channel}/thermometry/jpegPicWithAppendData?format=json"


@dataclass(slots=True)
class IsapiPicture:
    celsius: np.ndarray  # H x W float32
    frozen: bool  # isFreezedata: the camera is not updating (shutter / FFC)
    meta: dict[str, Any]
    thermal_jpeg: bytes
    visible_jpeg: bytes | None


def split_multipart(body: bytes, content_type: str) -> list[tuple[dict[str, str], bytes]]:
    """Parts of a multipart body as (lower-cased headers, payload)."""
    m = re.search(r'boundary="?([^";]+)"?', content_type)
    if not m:
        raise SourceError(f"no multipart boundary in {content_type!r}")
    delim = b"--" + m.group(1).encode("latin-1")
    parts: list[tuple[dict[str, str], bytes]] = []
    pos = body.find(delim)
    while pos >= 0:
        start = pos + len(delim)
        if body[start : start + 2] == b"--":
            break
        start = body.find(b"\r\n", start) + 2
        head_end = body.find(b"\r\n\r\n", start)
        if start < 2 or head_end < 0:
            raise SourceError("truncated multipart header")
        headers = {}
        for line in body[start:head_end].decode("latin-1").split("\r\n"):
            if ":" in line:
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip()
        data_start = head_end + 4
        if "content-length" in headers:  # binary payloads: trust the length, not a boundary search
            data_end = data_start + int(headers["content-length"])
            nxt = body.find(delim, data_end)
        else:
            nxt = body.find(delim, data_start)
            data_end = nxt - 2 if nxt >= 0 else len(body)
        if data_end > len(body):
            raise SourceError("truncated multipart payload")
        parts.append((headers, body[data_start:data_end]))
        pos = nxt
    return parts


def parse_picture(body: bytes, content_type: str) -> IsapiPicture:
    parts = split_multipart(body, content_type)
    meta_part = next((p for h, p in parts if "json" in h.get("content-type", "")), None)
    if meta_part is None:
        raise SourceError("ISAPI answer has no JSON part")
    try:
        meta = json.loads(meta_part)["JpegPictureWithAppendData"]
        width, height = int(meta["jpegPicWidth"]), int(meta["jpegPicHeight"])
        bpp = int(meta.get("temperatureDataLength", 4))
    except (KeyError, ValueError, TypeError) as exc:
        raise SourceError(f"bad ISAPI metadata: {exc}") from exc
    jpegs = [p for h, p in parts if h.get("content-type", "").startswith("image/jpeg")]
    raw = next((p for h, p in parts if h.get("content-type", "") == "application/octet-stream"), None)
    if raw is None:
        raise SourceError("ISAPI answer has no temperature matrix")
    p2p_len = int(meta.get("p2pDataLen", len(raw)))
    if len(raw) < p2p_len or p2p_len != width * height * bpp:
        raise SourceError(f"temperature matrix {len(raw)} bytes, expected {width}x{height}x{bpp}")
    if bpp == 4:
        celsius = np.frombuffer(raw[:p2p_len], dtype="<f4").reshape(height, width)
    elif bpp == 2:
        scale = float(meta.get("scale", 1) or 1)
        kelvin = np.frombuffer(raw[:p2p_len], dtype="<i2").reshape(height, width) / scale
        celsius = (kelvin + float(meta.get("offset", 0)) - 273.15).astype(np.float32)
    else:
        raise SourceError(f"temperatureDataLength {bpp} not supported")
    return IsapiPicture(
        celsius=celsius.astype(np.float32),
        frozen=bool(meta.get("isFreezedata", False)),
        meta=meta,
        thermal_jpeg=jpegs[0] if jpegs else b"",
        visible_jpeg=jpegs[1] if len(jpegs) > 1 else None,
    )


def _endpoint(source: str) -> tuple[str, str, str]:
    """(url, user, password) from ``isapi://user:pass@host:port/CH`` or a full http(s) URL."""
    u = urlsplit(source)
    user, password = u.username or "", u.password or ""
    netloc = u.hostname or ""
    if u.port:
        netloc += f":{u.port}"
    if u.scheme == "isapi":
        channel = u.path.strip("/") or "2"
        return f"http://{netloc}" + PATH.format(channel=channel), user, password
    return urlunsplit((u.scheme, netloc, u.path, u.query, "")), user, password


class IsapiSource:
    """Polls the picture endpoint at `fps` (the camera serves snapshots, not a stream).

    With `homography` (visible px -> thermal px) the visible JPEG rides along on each frame; a
    picture that is missing or does not decode is counted and logged once, and that frame goes
    on thermal-only rather than being dropped (the temperatures are still good).
    """

    def __init__(
        self,
        source: str,
        *,
        fps: float = 5.0,
        timeout_s: float = 5.0,
        camera: str = "",
        homography: np.ndarray | None = None,
    ) -> None:
        self.url, user, password = _endpoint(source)
        self.camera = camera
        self.homography = None if homography is None else np.asarray(homography, dtype=np.float64)
        self._log = structlog.get_logger("edged.thermal").bind(camera=camera)
        self._warned: set[str] = set()
        mgr = urllib.request.HTTPPasswordMgrWithDefaultRealm()
        mgr.add_password(None, self.url, user, password)
        self._opener = urllib.request.build_opener(urllib.request.HTTPDigestAuthHandler(mgr))
        self.period = 1.0 / fps
        self.timeout_s = timeout_s
        self._t0 = time.monotonic()
        self._next = self._t0
        self._index = 0

    def fetch(self) -> IsapiPicture:
        try:
            with self._opener.open(self.url, timeout=self.timeout_s) as resp:
                body = resp.read()
                ctype = resp.headers.get("Content-Type", "")
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise SourceError(f"ISAPI {self.url}: {exc}") from exc
        return parse_picture(body, ctype)

    def read(self) -> ThermalFrame | None:
        delay = self._next - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        self._next = max(self._next + self.period, time.monotonic())
        pic = self.fetch()
        frame = ThermalFrame(
            counts=to_counts(pic.celsius),
            gain=0.01,
            offset=0.0,
            t=time.monotonic() - self._t0,
            wall=time.time(),
            index=self._index,
            ffc=pic.frozen,
        )
        if self.homography is not None:
            frame.visible = self._visible(pic.visible_jpeg)
            frame.homography = self.homography if frame.visible is not None else None
        self._index += 1
        return frame

    def _visible(self, jpeg: bytes | None) -> np.ndarray | None:
        """The decoded BGR visible picture, or None (counted, logged once per reason)."""
        image = None
        if jpeg:
            try:
                image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
            except cv2.error:
                image = None
        if image is not None and image.ndim == 3 and image.size:
            return image
        reason = "corrupt" if jpeg else "missing"
        m.VISIBLE_ERRORS.labels(camera=self.camera, reason=reason).inc()
        if reason not in self._warned:
            self._warned.add(reason)
            self._log.warning("visible picture unusable; screening on thermal faces", reason=reason)
        return None

    def close(self) -> None:
        return None
