"""The parts of the demo site. Each capability adds one `DemoPart` to `PARTS`.

A part adds its devices to the demo config (a plain dict, validated afterwards like any site
config) and starts the simulators those devices talk to (an RTSP server, OSDP readers, ...).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol


class DemoPart(Protocol):
    name: str

    def configure(self, site: dict[str, Any], workdir: Path) -> None:
        """Add this part's sections to the demo site config (mutates `site`)."""

    def simulators(self, site: dict[str, Any], workdir: Path) -> contextlib.AbstractContextManager[None]:
        """Run this part's simulated devices for as long as the context is open."""


@contextlib.contextmanager
def nothing_to_run() -> Iterator[None]:
    yield


def all_parts() -> list[DemoPart]:
    """Parts in the order they are configured; imported lazily so the demo starts fast."""
    parts: list[DemoPart] = []
    from edged.demo.street import StreetPart

    parts.append(StreetPart())
    from edged.demo.facade import FacadePart

    parts.append(FacadePart())
    from edged.demo.doors import DoorsPart

    parts.append(DoorsPart())
    from edged.demo.thermal import ThermalPart  # before gates: its fever rule names this camera

    parts.append(ThermalPart())
    from edged.demo.gates import GatesPart

    parts.append(GatesPart())
    from edged.demo.uplink import UplinkPart

    parts.append(UplinkPart())
    return parts
