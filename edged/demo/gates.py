"""Demo part: the complex's 8 checkpoints on a simulated Modbus TCP barrier IO module.

pymodbus's own server plays the IO module (one unit per checkpoint) with barrier physics; a
script drives vehicles onto the loops and hands their plates to the gates worker with the
`plate` command (it stands in for the plate cameras: plate reading is not built yet), so the
demo shows whitelist and visitor openings, denied plates, the auto-close after each vehicle,
a guard's `open` at a pedestrian gate and one forced barrier. A rule holds the north gate
closed on a `fever` from its thermal camera.
"""

from __future__ import annotations

import contextlib
import random
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from edged.bus.commands import CommandClient, CommandError, CommandTimeout
from edged.bus.endpoints import Endpoints
from edged.config.gates import CheckpointIOConfig, GatesConfig
from edged.gates.passes import PassStore
from edged.gates.sim import BarrierSimulator

CHECKPOINTS = [
    ("north-vehicle-in", "vehicle"),
    ("north-vehicle-out", "vehicle"),
    ("north-pedestrian", "pedestrian"),
    ("south-vehicle-in", "vehicle"),
    ("south-vehicle-out", "vehicle"),
    ("south-pedestrian", "pedestrian"),
    ("east-vehicle", "vehicle"),
    ("garage-ramp", "vehicle"),
]
FEVER_CHECKPOINT = "north-pedestrian"
DEFAULT_THERMAL_CAMERA = "thermal-north-gate"
RESIDENTS = ["渝A·12345", "渝A·8K321", "渝B·66Q88", "渝A·D0099", "川A·55120"]
VISITORS = ["渝C·73310", "渝A·V2024"]
STRANGERS = ["京N·00001", "渝D·44444"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class GatesPart:
    name = "gates"

    def __init__(self, period_s: float = 4.0) -> None:
        self.period_s = period_s

    def configure(self, site: dict[str, Any], workdir: Path) -> None:
        port = _free_port()
        # The thermal part's first camera when it is configured before this part; else the id it
        # is asked to use (the rule is only a string; the checkpoint names only a real camera).
        found = next((c["id"] for c in site.get("cameras", []) if c.get("thermal")), None)
        thermal = found or DEFAULT_THERMAL_CAMERA
        checkpoints = []
        for unit, (cp_id, kind) in enumerate(CHECKPOINTS, start=1):
            checkpoints.append(
                {
                    "id": cp_id,
                    "kind": kind,
                    "thermal_camera": found if cp_id == FEVER_CHECKPOINT else None,
                    "close_delay_s": 1.0,
                    "open_timeout_s": 15.0,
                    "motion_s": 2.0,
                    "io": {
                        "device": "gate-io",
                        "unit": unit,
                        "open_coil": 0,
                        "close_coil": 1,
                        "loop_input": 0,
                        "closed_input": 1,
                        "pulse_s": 0.3,
                    },
                }
            )
        section = {
            "devices": [{"name": "gate-io", "host": "127.0.0.1", "port": port}],
            "checkpoints": checkpoints,
        }
        cfg = GatesConfig.model_validate(section)
        site["gates"] = section
        site.setdefault("rules", []).append(
            {
                "id": "fever-holds-north-pedestrian",
                "when_type": "fever",
                "when_source": thermal,
                "cooldown_s": 5.0,
                "then": [
                    {
                        "action": "command",
                        "worker": "gates",
                        "command": "hold_closed",
                        "args": {"checkpoint": FEVER_CHECKPOINT, "seconds": 60, "reason": "fever"},
                    },
                    {"action": "raise", "type": "linkage", "priority": 0},
                ],
            }
        )
        self._passes(Path(site["runtime"]["state_dir"]) / cfg.passes_db)

    def _passes(self, path: Path) -> None:
        store = PassStore(path)
        now = time.time()
        for plate in RESIDENTS:
            store.add(plate, "whitelist", note="resident")
        store.add(
            VISITORS[0], "visitor", valid_from=now - 3600, valid_until=now + 8 * 3600, note="visitor b2-0701"
        )
        store.add(
            VISITORS[1], "visitor", valid_from=now - 86400, valid_until=now - 3600, note="expired visitor"
        )
        store.close()

    @contextlib.contextmanager
    def simulators(self, site: dict[str, Any], workdir: Path) -> Iterator[None]:
        # Everything comes from `site`: the runner may call configure() on another instance.
        cfg = GatesConfig.model_validate(site["gates"])
        points = {c.id: c.io for c in cfg.checkpoints if c.io is not None}
        sim = BarrierSimulator(list(points.values()), port=cfg.devices[0].port, motion_s=1.0)
        sim.start()
        stop = threading.Event()
        run_dir = Path(site["runtime"]["run_dir"])
        script = threading.Thread(target=self._script, args=(sim, points, run_dir, stop), daemon=True)
        script.start()
        try:
            yield
        finally:
            stop.set()
            script.join(10)
            sim.stop()

    def _script(
        self,
        sim: BarrierSimulator,
        points: dict[str, CheckpointIOConfig],
        run_dir: Path,
        stop: threading.Event,
    ) -> None:
        import zmq

        zctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
        client = CommandClient(zctx, Endpoints(run_dir).commands("gates"))
        rnd = random.Random(11)
        vehicles = [cp for cp, kind in CHECKPOINTS if kind == "vehicle"]
        plates = RESIDENTS * 3 + VISITORS + STRANGERS
        n = 0
        try:
            stop.wait(8)  # the daemon starts and the gates worker connects
            while not stop.wait(self.period_s):
                n += 1
                if n % 7 == 3:
                    self._guard_opens(client, rnd.choice(["north-pedestrian", "south-pedestrian"]))
                elif n == 5:
                    self._forced(sim, points["east-vehicle"], stop)
                else:
                    cp = rnd.choice(vehicles)
                    self._vehicle(sim, client, cp, points[cp], rnd.choice(plates), stop)
        finally:
            client.close()
            zctx.term()

    def _vehicle(
        self,
        sim: BarrierSimulator,
        client: CommandClient,
        cp: str,
        io: CheckpointIOConfig,
        plate: str,
        stop: threading.Event,
    ) -> None:
        sim.set_loop(io, True)  # arrives on the loop in front of the barrier
        try:
            result = client.call("plate", {"checkpoint": cp, "plate": plate, "source": "demo"}, timeout_s=2.0)
        except (CommandTimeout, CommandError):
            result = {"opened": False}
        deadline = time.monotonic() + 4.0
        while result.get("opened") and sim.barrier_closed(io) and time.monotonic() < deadline:
            stop.wait(0.1)
        stop.wait(1.5 if result.get("opened") else 3.0)  # drives through, or reverses away
        sim.set_loop(io, False)

    def _guard_opens(self, client: CommandClient, cp: str) -> None:
        with contextlib.suppress(CommandTimeout, CommandError):
            client.call("open", {"checkpoint": cp, "by": "guard-room"}, timeout_s=2.0)

    def _forced(self, sim: BarrierSimulator, io: CheckpointIOConfig, stop: threading.Event) -> None:
        sim.set_closed(io, False)  # lifted by hand
        stop.wait(3.0)
        sim.set_closed(io, True)
