"""Before any camera starts: can /dev/shm hold every camera's frame ring?

Frame sizes are known only after decoding, so the plan assumes `decode.width` (16:9) when set
and 1920×1080 otherwise; the camera worker checks again with the real size when it creates
its ring. The supervisor calls `check_site_shm(cfg)` at start and refuses with the message.
"""

from __future__ import annotations

from pathlib import Path

from edged.config.camera import CameraConfig
from edged.config.site import SiteConfig
from edged.pipelines.ring import DEFAULT_SHM_DIR, check_shm_capacity, ring_bytes

ASSUMED_NATIVE = (1080, 1920)


def planned_shape(cam: CameraConfig) -> tuple[int, int, int]:
    if cam.decode.width:
        return (round(cam.decode.width * 9 / 16), cam.decode.width, 3)
    return (*ASSUMED_NATIVE, 3)


def video_cameras(cfg: SiteConfig) -> list[CameraConfig]:
    """Cameras that run the video pipeline with a detector (thermal ones do not use a ring)."""
    return [c for c in cfg.cameras if c.enabled and c.thermal is None and (c.zones or c.lines)]


def site_ring_bytes(cfg: SiteConfig) -> int:
    return sum(ring_bytes(c.decode.ring_slots, planned_shape(c)) for c in video_cameras(cfg))


def check_site_shm(cfg: SiteConfig, shm_dir: Path = DEFAULT_SHM_DIR) -> None:
    """Raise ShmTooSmall (with how to fix it) when the rings would not fit."""
    n = len(video_cameras(cfg))
    if n:
        check_shm_capacity(
            site_ring_bytes(cfg), shm_dir, cfg.runtime.shm_min_free_bytes, what=f"the rings of {n} camera(s)"
        )
