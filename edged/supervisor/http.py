"""/metrics (every process's values, aggregated) and /healthz, on a small threaded HTTP server."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from edged.metrics import collecting_registry

HealthProbe = Callable[[], tuple[bool, dict[str, Any]]]


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            body, status, ctype = generate_latest(collecting_registry()), 200, CONTENT_TYPE_LATEST
        elif path == "/healthz":
            healthy, detail = self.server.health()
            body, status, ctype = json.dumps(detail).encode(), 200 if healthy else 503, "application/json"
        else:
            body, status, ctype = b"not found\n", 404, "text/plain"
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # scrapes are not worth a log line
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    health: HealthProbe


class MetricsServer:
    def __init__(self, listen: str, health: HealthProbe) -> None:
        host, port = listen.rsplit(":", 1)
        self._server = _Server((host, int(port)), _Handler)
        self._server.health = health
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="http", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
