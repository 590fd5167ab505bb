"""Opening a thermal source from a camera section's `source` string.

- a path ending in ``.npz``: replay (design.md format);
- ``uvc:N`` or ``/dev/videoN``: a UVC radiometric camera delivering Y16 (PureThermal, Boson),
  optionally with the Lepton's telemetry rows (`thermal.telemetry`) for the shutter flag;
- ``isapi://user:pass@host[:port]/CHANNEL`` or an ``http(s)://`` URL containing ``/ISAPI/``:
  Hikvision thermography (``jpegPicWithAppendData``) polled at the camera's fps, with the
  visible picture when `thermal.visible` registers it.
"""

from __future__ import annotations

from typing import Protocol

from edged.config.camera import CameraConfig
from edged.config.thermal import thermal_source_kind
from edged.pipelines.thermal.frame import ThermalFrame


class SourceError(Exception):
    """The source failed (cannot open, lost, bad data); the worker reconnects with backoff."""


class ThermalSource(Protocol):
    def read(self) -> ThermalFrame | None:
        """Next frame; None at the end of a file. Raises SourceError when the camera fails."""

    def close(self) -> None: ...


def open_source(camera: CameraConfig, *, pace: bool = False, loop: bool = False) -> ThermalSource:
    src = camera.source
    thermal = camera.thermal
    kind = thermal_source_kind(src)
    if kind == "npz":
        from edged.pipelines.thermal.npz import NpzSource

        return NpzSource(src, pace=pace, loop=loop)
    if kind == "uvc":
        from edged.pipelines.thermal.uvc import UvcY16Source

        device: int | str = int(src[4:]) if src.startswith("uvc:") else src
        gain = thermal.gain if thermal and thermal.gain else 0.01
        offset = thermal.offset if thermal and thermal.offset is not None else 0.0
        telemetry = thermal.telemetry if thermal else "none"
        return UvcY16Source(device, gain=gain, offset=offset, telemetry=telemetry, camera=camera.id)
    if kind == "isapi":
        from edged.pipelines.thermal.isapi import IsapiSource

        hmat = thermal.visible.matrix() if thermal and thermal.visible else None
        return IsapiSource(src, fps=camera.fps, camera=camera.id, homography=hmat)
    raise SourceError(f"{src}: not a thermal source (expected .npz, uvc:N, /dev/videoN or an ISAPI URL)")
