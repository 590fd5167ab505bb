"""A small MJPEG-over-HTTP camera (multipart/x-mixed-replace) on 127.0.0.1, as IP cameras serve it.

Each frame is a real JPEG (OpenCV's encoder) of a 320×240 picture whose grey level encodes
the frame number, so a test can tell frames arrived in order and undamaged.
"""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import cv2
import numpy as np

BOUNDARY = "edgedframe"
W, H = 320, 240


def frame_level(index: int) -> int:
    return 40 + (index * 7) % 180


def jpeg(index: int) -> bytes:
    image = np.full((H, W, 3), frame_level(index), np.uint8)
    x = (index * 9) % (W - 40)
    cv2.rectangle(image, (x, 100), (x + 40, 140), (255, 255, 255), -1)  # something that moves
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    return bytes(buf)


class MjpegServer:
    """Serves /video at `fps` to every client until `stop()`; `drop_clients()` cuts live streams."""

    def __init__(self, fps: float = 15.0, port: int = 0) -> None:
        server = self
        self.fps = fps
        self.connections = 0
        self._cut = threading.Event()

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                if self.path != "/video":
                    self.send_error(404)
                    return
                server.connections += 1
                self.send_response(200)
                self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
                self.send_header("Cache-Control", "no-cache")
                self.end_headers()
                index = 0
                try:
                    while not server._cut.is_set():
                        body = jpeg(index)
                        head = (
                            f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(body)}\r\n\r\n"
                        ).encode()
                        self.wfile.write(head + body + b"\r\n")
                        self.wfile.flush()
                        index += 1
                        time.sleep(1.0 / server.fps)
                except (BrokenPipeError, ConnectionResetError):
                    return

        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/video"

    def start(self) -> MjpegServer:
        self._thread.start()
        return self

    def drop_clients(self) -> None:
        """End every live stream (the camera reboots); new connections are served again."""
        self._cut.set()
        time.sleep(0.3)
        self._cut.clear()

    def stop(self) -> None:
        self._cut.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> MjpegServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
