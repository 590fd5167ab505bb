"""A stand-in for a Hikvision thermography camera: a real HTTP server with digest auth serving
``jpegPicWithAppendData`` in the documented multipart layout. Tests and the demo use it where
a real camera cannot be had; it is not a mock of our client (it speaks plain HTTP/1.1).
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import cv2
import numpy as np

Provider = Callable[[], tuple[np.ndarray, bool]]  # -> (celsius H x W, frozen)
# -> the visible part of a dual-spectrum answer: a BGR image (sent as JPEG), raw bytes (sent as they
# are: a corrupt picture), or None (no visible part, like a thermal-only model)
VisibleProvider = Callable[[], np.ndarray | bytes | None]
BOUNDARY = "boundary"
REALM = "DS-2TD-standin"


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def _parse_auth(header: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for key, quoted, bare in re.findall(r'(\w+)=(?:"([^"]*)"|([^,\s]*))', header):
        fields[key] = quoted or bare
    return fields


def build_body(
    celsius: np.ndarray, frozen: bool, bpp: int = 4, visible: np.ndarray | bytes | None = None
) -> bytes:
    h, w = celsius.shape
    if bpp == 4:
        matrix = celsius.astype("<f4").tobytes()
        scale, offset = 1.0, 0.0
    else:  # int16 deci-kelvin above 173.15 K: kelvin = raw / 10 + 173.15 (fits int16 up to ~3000 K)
        scale, offset = 10.0, 173.15
        matrix = np.rint((celsius + 273.15 - offset) * scale).astype("<i2").tobytes()
    lo, hi = float(celsius.min()), float(celsius.max())
    norm = ((celsius - lo) * (255.0 / max(hi - lo, 1e-3))).astype(np.uint8)
    jpeg = cv2.imencode(".jpg", cv2.applyColorMap(norm, cv2.COLORMAP_INFERNO))[1].tobytes()
    meta = {
        "JpegPictureWithAppendData": {
            "channel": 2,
            "jpegPicLen": len(jpeg),
            "jpegPicWidth": w,
            "jpegPicHeight": h,
            "p2pDataLen": len(matrix),
            "isFreezedata": frozen,
            "temperatureDataLength": bpp,
            "timeStampValid": False,
            "scale": scale,
            "offset": offset,
        }
    }
    parts = [("application/json", json.dumps(meta).encode()), ("image/jpeg", jpeg)]
    parts.append(("application/octet-stream", matrix))
    if isinstance(visible, np.ndarray):
        parts.append(
            ("image/jpeg", cv2.imencode(".jpg", visible, [cv2.IMWRITE_JPEG_QUALITY, 92])[1].tobytes())
        )
    elif visible is not None:
        parts.append(("image/jpeg", visible))
    out = b""
    for ctype, payload in parts:
        out += f"--{BOUNDARY}\r\nContent-Type: {ctype}\r\nContent-Length: {len(payload)}\r\n\r\n".encode()
        out += payload + b"\r\n"
    return out + f"--{BOUNDARY}--\r\n".encode()


class IsapiStandIn:
    """`with IsapiStandIn(provider, user, password) as cam:` serves on 127.0.0.1:`cam.port`;
    with `visible` it answers like a dual-spectrum model (a visible JPEG after the matrix)."""

    def __init__(
        self,
        provider: Provider,
        user: str = "admin",
        password: str = "hik12345",
        bpp: int = 4,
        port: int = 0,
        visible: VisibleProvider | None = None,
    ) -> None:
        self.provider = provider
        self.visible = visible
        self.user, self.password, self.bpp = user, password, bpp
        self.requests = 0
        self.unauthorized = 0
        self._nonce = secrets.token_hex(16)
        self._server = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, name="isapi-standin", daemon=True)

    def _authorized(self, method: str, header: str | None) -> bool:
        if not header or not header.startswith("Digest "):
            return False
        f = _parse_auth(header[7:])
        if f.get("username") != self.user or f.get("nonce") != self._nonce:
            return False
        ha1 = _md5(f"{self.user}:{REALM}:{self.password}")
        ha2 = _md5(f"{method}:{f.get('uri', '')}")
        if f.get("qop"):
            expect = _md5(f"{ha1}:{self._nonce}:{f.get('nc')}:{f.get('cnonce')}:{f['qop']}:{ha2}")
        else:
            expect = _md5(f"{ha1}:{self._nonce}:{ha2}")
        return secrets.compare_digest(expect, f.get("response", ""))

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        cam = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return None

            def do_GET(self) -> None:
                if "/thermometry/jpegPicWithAppendData" not in self.path:
                    self.send_error(404)
                    return
                if not cam._authorized("GET", self.headers.get("Authorization")):
                    cam.unauthorized += 1
                    self.send_response(401)
                    self.send_header(
                        "WWW-Authenticate", f'Digest realm="{REALM}", qop="auth", nonce="{cam._nonce}"'
                    )
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                cam.requests += 1
                celsius, frozen = cam.provider()
                body = build_body(celsius, frozen, cam.bpp, cam.visible() if cam.visible else None)
                self.send_response(200)
                self.send_header("Content-Type", f"multipart/form-data; boundary={BOUNDARY}")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return Handler

    def __enter__(self) -> IsapiStandIn:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
