"""Demo part: a facade camera (高空抛物) where objects are thrown every so often.

The clip comes from our own generator (`edged synth falling`): a high-rise facade seen from
~20 m, two heavy objects (a drop and a throw with a rise) and a paper bag, with birds flying
past, 36 s long, looped over real RTSP, so something falls about every 12 s. The falling-object
analytic runs in the camera worker; its events carry the floor, the floor range and the clip.
The rendered clip is cached under ~/.cache/edged (rendering takes a minute on a small box).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from edged.pipelines import rtsp_server

CAMERA_ID = "facade-b3-east"
CLIP_VERSION = "v2"


def cache_dir() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "edged" / f"demo-facade-{CLIP_VERSION}"


def facade_clip() -> tuple[Path, dict[str, Any]]:
    """The demo clip and its camera section (rendered once, then cached)."""
    out = cache_dir()
    video, camera = out / "facade.mp4", out / "facade.yaml"
    if not (video.is_file() and camera.is_file()):
        from edged.pipelines.falling.synth.render import write_clip
        from edged.pipelines.falling.synth.scene import ClipSpec

        tmp = out.with_name(out.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        spec = ClipSpec(
            seed=2024,
            width=960,
            height=540,
            objects=["drop", "throw_up", "light"],
            distractors=["bird"],
            px_range=(4.0, 6.0),
            release_times=[3.0, 15.0, 26.0],
            duration=36.0,
        )
        write_clip(spec, tmp, "facade")
        shutil.rmtree(out, ignore_errors=True)
        tmp.rename(out)
    return video, yaml.safe_load(camera.read_text(encoding="utf-8"))


class FacadePart:
    name = "facade"

    def __init__(self) -> None:
        self.port = rtsp_server.free_port()

    def configure(self, site: dict[str, Any], workdir: Path) -> None:
        if rtsp_server.available() is not None or shutil.which("ffmpeg") is None:
            return  # the rest of the demo runs without the facade camera
        _, camera = facade_clip()
        camera.update(id=CAMERA_ID, source=f"rtsp://127.0.0.1:{self.port}/facade")
        site.setdefault("cameras", []).append(camera)

    @contextlib.contextmanager
    def simulators(self, site: dict[str, Any], workdir: Path) -> Iterator[None]:
        if not any(c.get("id") == CAMERA_ID for c in site.get("cameras", [])):
            yield
            return
        video, _ = facade_clip()
        with rtsp_server.RtspServer({"facade": video}, port=self.port, log=workdir / "rtsp-facade.log"):
            yield
