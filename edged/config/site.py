"""The root of a site's config: one YAML file per complex."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from edged.config.base import Strict
from edged.config.camera import CameraConfig
from edged.config.detectors import DetectorConfig, YoloDarknetDetector
from edged.config.doors import DoorsConfig
from edged.config.gates import GatesConfig
from edged.config.rules import RuleConfig
from edged.config.thermal import thermal_source_kind
from edged.config.uplink import UplinkConfig


class SiteInfo(Strict):
    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    name: str = ""
    timezone: str = "Asia/Shanghai"


class RuntimeConfig(Strict):
    run_dir: Path = Field(Path("/run/edged"), description="sockets, metrics (tmpfs)")
    state_dir: Path = Field(Path("/var/lib/edged"), description="outbox, credentials, evidence")
    shm_min_free_bytes: int = Field(64 << 20, ge=0, description="/dev/shm headroom kept free")


class SupervisorConfig(Strict):
    heartbeat_interval_s: float = Field(0.5, gt=0, le=5)
    stall_timeout_s: float = Field(3.0, gt=0, le=60, description="no heartbeat this long: restart")
    start_timeout_s: float = Field(
        60.0, gt=0, le=600, description="spawn to first heartbeat (imports, model load) before a restart"
    )
    restart_budget: int = Field(5, ge=1, description="restarts allowed per budget window")
    restart_window_s: float = Field(60.0, gt=0)
    failed_retry_s: float = Field(30.0, gt=0, description="first backoff after the budget is spent")
    failed_retry_max_s: float = Field(300.0, gt=0)
    core_failed_exit_s: float = Field(
        120.0, gt=0, description="a core worker failed this long makes the daemon exit non-zero"
    )
    stop_timeout_s: float = Field(8.0, gt=0, le=60)


class MetricsConfig(Strict):
    listen: str = Field("127.0.0.1:9108", pattern=r"^[^:]+:\d{1,5}$")


class LoggingConfig(Strict):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "json", "console"] = "auto"


class SiteConfig(Strict):
    site: SiteInfo
    runtime: RuntimeConfig = Field(default_factory=RuntimeConfig)
    supervisor: SupervisorConfig = Field(default_factory=SupervisorConfig)
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)
    cameras: list[CameraConfig] = Field(default_factory=list)
    detectors: list[DetectorConfig] = Field(default_factory=list)
    doors: DoorsConfig = Field(default_factory=DoorsConfig)
    gates: GatesConfig = Field(default_factory=GatesConfig)
    rules: list[RuleConfig] = Field(default_factory=list)
    uplink: UplinkConfig = Field(default_factory=UplinkConfig)

    @model_validator(mode="after")
    def _unique_ids(self) -> SiteConfig:
        for label, ids in (
            ("cameras", [c.id for c in self.cameras]),
            ("detectors", [d.name for d in self.detectors]),
            ("rules", [r.id for r in self.rules]),
        ):
            dupes = sorted({i for i in ids if ids.count(i) > 1})
            if dupes:
                raise ValueError(f"{label}: duplicate id(s) {', '.join(dupes)}")
        return self

    @model_validator(mode="after")
    def _thermal_sources(self) -> SiteConfig:
        """A thermal camera opens a thermal source, and its source-specific settings fit it
        (a setting the source never reads would be silently ignored)."""
        for i, cam in enumerate(self.cameras):
            if cam.thermal is None:
                continue
            kind = thermal_source_kind(cam.source)
            if kind is None:
                raise ValueError(
                    f"cameras[{i}].source: a thermal camera needs a .npz file, uvc:N, /dev/videoN "
                    "or an ISAPI URL (isapi://user:pass@host/CHANNEL)"
                )
            t = cam.thermal
            only: list[tuple[str, bool, str]] = [
                ("telemetry", t.telemetry != "none", "uvc"),
                ("gain", t.gain is not None, "uvc"),
                ("offset", t.offset is not None, "uvc"),
                ("visible", t.visible is not None, "isapi"),  # npz replays carry their own
            ]
            for name, is_set, needs in only:
                if is_set and kind != needs:
                    raise ValueError(
                        f"cameras[{i}].thermal.{name}: only {needs} sources read it; "
                        f"this camera's source is {kind}"
                    )
        return self

    @model_validator(mode="after")
    def _plate_cameras(self) -> SiteConfig:
        """A checkpoint reads plates from a configured video camera's frame ring. A camera writes
        its ring only while detection runs, so a plate camera with nothing else to detect gets the
        cheap `motion` detector (the frames, not its blobs, are what the plate reader needs)."""
        cams = {c.id: c for c in self.cameras}
        for i, cp in enumerate(self.gates.checkpoints):
            if cp.plate_camera is None:
                continue
            cam = cams.get(cp.plate_camera)
            where = f"gates.checkpoints[{i}].plate_camera"
            if cam is None:
                raise ValueError(f"{where}: no camera named {cp.plate_camera!r} in cameras")
            if cam.thermal is not None:
                raise ValueError(f"{where}: {cam.id!r} is a thermal camera; plates need a video camera")
            if not cam.enabled:
                raise ValueError(f"{where}: camera {cam.id!r} is disabled, so no plate could be read")
            if not (cam.analytics_enabled or cam.detection.detector):
                cam.detection.detector = "motion"
        return self

    @model_validator(mode="after")
    def _detectors_for_cameras(self) -> SiteConfig:
        """Cameras name an existing detector; a site that needs one and lists none gets the default."""
        names = {d.name for d in self.detectors}
        needs_default = False
        for i, cam in enumerate(self.cameras):
            wanted = cam.detection.detector
            detecting = cam.enabled and cam.thermal is None and bool(cam.zones or cam.lines)
            if wanted not in (None, "motion") and wanted not in names:
                raise ValueError(
                    f"cameras[{i}].detection.detector: no detector named {wanted!r} in detectors"
                )
            needs_default |= detecting and wanted is None
        if needs_default and not self.detectors:
            self.detectors.append(YoloDarknetDetector())
        return self
