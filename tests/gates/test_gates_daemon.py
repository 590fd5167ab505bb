"""The gates worker inside the real daemon (`edged run`): commands over the bus, and the fever
linkage rule (rules worker -> `hold_closed`) against pymodbus's real server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import zmq
from gates_support import gates_section, io_points
from support.daemon import Daemon, wait_for

from edged.bus.commands import CommandClient, CommandError, CommandTimeout
from edged.bus.endpoints import Endpoints
from edged.bus.reliable import EventSender
from edged.bus.telemetry import TelemetrySubscriber
from edged.config.gates import GatesConfig
from edged.events import Priority, new_event
from edged.gates.sim import BarrierSimulator


def test_commands_and_fever_hold_through_the_daemon(tmp_path: Path) -> None:
    points = io_points(GatesConfig.model_validate(gates_section(1)))
    with BarrierSimulator(points, motion_s=0.2) as sim:
        gates = gates_section(sim.port)
        gates["checkpoints"][0]["thermal_camera"] = "thermal-cp-1"
        hold = {"checkpoint": "cp-1", "seconds": 30, "reason": "fever"}
        rule = {
            "id": "fever-holds-cp-1",
            "when_type": "fever",
            "when_source": "thermal-cp-1",
            "then": [{"action": "command", "worker": "gates", "command": "hold_closed", "args": hold}],
        }
        with Daemon(tmp_path, {"gates": gates, "rules": [rule]}) as d:
            d.wait_ready()
            assert d.worker("gates") is not None
            zctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context()
            ep = Endpoints(d.run_dir)
            client = CommandClient(zctx, ep.commands("gates"))
            sub = TelemetrySubscriber(zctx, ep.telemetry_out, ["event"])
            sender = EventSender(zctx, ep.events("rules"), "rules", "test-thermal")
            seen: list[dict[str, Any]] = []

            def call(name: str, args: dict[str, Any] | None = None) -> Any:
                return client.call(name, args, timeout_s=2.0)

            def checkpoint(cp: str) -> dict[str, Any]:
                return next(c for c in call("status")["checkpoints"] if c["checkpoint"] == cp)

            def saw(etype: str) -> bool:
                while (got := sub.recv(20)) is not None:
                    seen.append(got[1])
                return any(e["type"] == etype for e in seen)

            try:
                wait_for(lambda: checkpoint("cp-1")["online"], 15, 0.1)
                assert call("open", {"checkpoint": "cp-1"})["checkpoint"] == "cp-1"
                wait_for(lambda: sim.pulses(points[0], points[0].open_coil) == 1, 5)
                wait_for(lambda: saw("gate_opened"), 5)

                sender.send(new_event("fever", "thermal-cp-1", {"temp_c": 38.4}, Priority.CRITICAL))
                wait_for(lambda: checkpoint("cp-1")["held"], 10, 0.05)
                with pytest.raises(CommandError, match="held closed"):
                    call("open", {"checkpoint": "cp-1"})
                assert not checkpoint("cp-2")["held"]
                wait_for(lambda: saw("gate_held"), 5)
                assert call("release", {"checkpoint": "cp-1"})["held"] is False
                with pytest.raises(CommandError, match="unknown checkpoint"):
                    call("open", {"checkpoint": "nowhere"})
            except (CommandTimeout, TimeoutError):
                print(d.log_text()[-4000:])
                raise
            finally:
                sender.close()
                sub.close()
                client.close()
                zctx.term()
