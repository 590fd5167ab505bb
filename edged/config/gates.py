"""Vehicle and pedestrian checkpoints (barriers, loops, plate cameras) and their Modbus IO.

A checkpoint with only `id` (and `kind`, `plate_camera`, `thermal_camera`) stays valid: it has
no barrier IO, so the gates worker makes decisions for it but refuses to open it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from edged.config.base import Strict


class ModbusDeviceConfig(Strict):
    """One Modbus TCP endpoint: an IO module, or a TCP gateway to an RS-485 line of them."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    host: str = Field(min_length=1)
    port: int = Field(502, ge=1, le=65535)
    timeout_s: float = Field(0.5, gt=0, le=10, description="per request; a late answer is an error")
    poll_interval_s: float = Field(0.1, ge=0.01, le=5, description="how often loops and limits are read")
    reconnect_min_s: float = Field(0.5, gt=0, le=60)
    reconnect_max_s: float = Field(10.0, gt=0, le=600)
    offline_after: int = Field(3, ge=1, le=100, description="consecutive failed polls before offline")

    @model_validator(mode="after")
    def _backoff_order(self) -> ModbusDeviceConfig:
        if self.reconnect_max_s < self.reconnect_min_s:
            raise ValueError("reconnect_max_s must be >= reconnect_min_s")
        return self


class CheckpointIOConfig(Strict):
    """Where a checkpoint's barrier relays and sensors sit on a Modbus device (0-based addresses)."""

    device: str = Field(description="name of a device in `gates.devices`")
    unit: int = Field(1, ge=0, le=247, description="Modbus unit / slave id")
    open_coil: int = Field(0, ge=0, le=65535, description="relay pulsed to open the barrier")
    close_coil: int | None = Field(
        None, ge=0, le=65535, description="relay pulsed to close; none: the barrier closes itself"
    )
    loop_input: int = Field(0, ge=0, le=65535, description="discrete input: vehicle on the loop")
    closed_input: int | None = Field(
        1, ge=0, le=65535, description="discrete input: barrier closed limit switch; none: not wired"
    )
    pulse_s: float = Field(0.5, gt=0, le=5, description="how long an open/close relay stays on")

    @model_validator(mode="after")
    def _distinct(self) -> CheckpointIOConfig:
        if self.close_coil is not None and self.close_coil == self.open_coil:
            raise ValueError("close_coil must differ from open_coil")
        if self.closed_input is not None and self.closed_input == self.loop_input:
            raise ValueError("closed_input must differ from loop_input")
        return self


class PlateReadConfig(Strict):
    """How a vehicle checkpoint reads plates from its `plate_camera` when the loop goes active."""

    roi: tuple[int, int, int, int] | None = Field(
        None, description="x, y, w, h in the camera's ring frame; none: the whole frame (slower)"
    )
    min_confidence: float = Field(0.8, ge=0, le=1, description="recognition score below this: no decision")
    attempts: int = Field(3, ge=1, le=20, description="reads per vehicle while it stays on the loop")
    retry_s: float = Field(0.5, ge=0.05, le=10, description="pause between reads of one vehicle")
    max_frame_age_s: float = Field(
        2.0, gt=0, le=60, description="newest ring frame older than this: the camera is stalled"
    )

    @model_validator(mode="after")
    def _roi_size(self) -> PlateReadConfig:
        if self.roi is not None and (min(self.roi) < 0 or self.roi[2] < 16 or self.roi[3] < 16):
            raise ValueError("roi must be x, y >= 0 and w, h >= 16 pixels")
        return self


class CheckpointConfig(Strict):
    id: str = Field(min_length=1)
    kind: Literal["vehicle", "pedestrian"] = "vehicle"
    plate_camera: str | None = Field(None, description="id of a camera in `cameras`")
    thermal_camera: str | None = Field(None, description="id of a thermal camera in `cameras`")
    io: CheckpointIOConfig | None = Field(None, description="barrier IO; none: decisions only")
    plate: PlateReadConfig = Field(default_factory=PlateReadConfig, description="plate_camera reading")
    close_delay_s: float = Field(1.0, ge=0, le=60, description="loop clear this long: close")
    open_timeout_s: float = Field(30.0, gt=0, le=600, description="opened and nobody came: close")
    motion_s: float = Field(4.0, gt=0, le=60, description="longest barrier travel (open or close)")
    hold_max_s: float = Field(3600.0, gt=0, description="longest `hold_closed` accepted")


class GatesConfig(Strict):
    devices: list[ModbusDeviceConfig] = Field(default_factory=list)
    checkpoints: list[CheckpointConfig] = Field(default_factory=list)
    ocr_threads: int = Field(1, ge=1, le=2, description="onnxruntime threads of the plate reader")
    passes_db: str = Field(
        "gates/passes.sqlite", description="whitelist and visitor passes, relative to runtime.state_dir"
    )

    @model_validator(mode="after")
    def _references(self) -> GatesConfig:
        for label, ids in (
            ("devices", [d.name for d in self.devices]),
            ("checkpoints", [c.id for c in self.checkpoints]),
        ):
            dupes = sorted({i for i in ids if ids.count(i) > 1})
            if dupes:
                raise ValueError(f"{label}: duplicate id(s) {', '.join(dupes)}")
        names = {d.name for d in self.devices}
        coils: dict[tuple[str, int, int], str] = {}
        for cp in self.checkpoints:
            if cp.io is None:
                continue
            if cp.io.device not in names:
                raise ValueError(f"checkpoint {cp.id}: io.device {cp.io.device!r} is not in gates.devices")
            for coil in (cp.io.open_coil, cp.io.close_coil):
                if coil is None:
                    continue
                key = (cp.io.device, cp.io.unit, coil)
                if key in coils:
                    raise ValueError(
                        f"checkpoint {cp.id}: coil {coil} of unit {cp.io.unit} on {cp.io.device} "
                        f"is already used by {coils[key]}"
                    )
                coils[key] = cp.id
        return self
