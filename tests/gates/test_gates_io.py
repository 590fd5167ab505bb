"""Checkpoints against pymodbus's real Modbus TCP server (127.0.0.1, a free port, in a thread).

The simulator's datastore plays the loops and limit switches; its barrier physics move the
closed limit when the relays are pulsed, like the real barrier controller would.
"""

from __future__ import annotations

import queue
import socket
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from gates_support import Harness, gates_config, io_points, metric, wait_until

from edged.drivers.modbus_io import PULSE_STALE_S, IoReport, ModbusIoLink
from edged.gates.checkpoint import Refused
from edged.gates.sim import BarrierSimulator


@pytest.fixture
def sim() -> Iterator[BarrierSimulator]:
    # Ports are only known after binding: build the points once, start, then configure on the port.
    points = io_points(gates_config(1, n=2))
    with BarrierSimulator(points, motion_s=0.2) as s:
        yield s


def test_open_command_pulses_relay_then_closes_after_vehicle_clears(
    sim: BarrierSimulator, tmp_path: Path
) -> None:
    cfg = gates_config(sim.port)
    cp1, cp2 = io_points(cfg)
    with Harness(cfg, tmp_path) as h:
        h.until(lambda: h.online("cp-1") and h.online("cp-2"))
        openings = metric("edged_gates_openings_total", checkpoint="cp-1", reason="command")
        result = h.service.handlers()["open"]({"checkpoint": "cp-1", "by": "guard-room"})
        assert result["checkpoint"] == "cp-1"
        # One pulse on the open relay: on, then off again after pulse_s.
        h.until(lambda: sim.pulses(cp1, cp1.open_coil) == 1 and not sim.coil(cp1, cp1.open_coil))
        assert sim.pulses(cp2, cp2.open_coil) == 0
        opened = h.of("gate_opened", "cp-1")
        assert len(opened) == 1 and opened[0]["data"]["reason"] == "command"
        assert opened[0]["data"]["by"] == "guard-room"
        assert metric("edged_gates_openings_total", checkpoint="cp-1", reason="command") == openings + 1
        h.until(lambda: h.service.checkpoints["cp-1"].phase.value == "open")  # limit switch left closed

        sim.set_loop(cp1, True)  # the vehicle drives onto the loop...
        h.until(lambda: h.service.checkpoints["cp-1"].loop)
        assert sim.pulses(cp1, cp1.close_coil or 0) == 0  # ...and nothing closes onto it
        sim.set_loop(cp1, False)  # ...and clears it
        h.until(lambda: sim.pulses(cp1, cp1.close_coil or 0) == 1)
        closed = h.until(lambda: h.of("gate_closed", "cp-1"))
        assert closed[0]["data"]["reason"] == "command" and sim.barrier_closed(cp1)
        assert not h.of("gate_forced")
        assert h.published and h.published[-1]["checkpoints"][0]["checkpoint"] == "cp-1"


def test_whitelisted_plate_opens_and_unknown_plate_is_denied(sim: BarrierSimulator, tmp_path: Path) -> None:
    cfg = gates_config(sim.port)
    cp1, _ = io_points(cfg)
    with Harness(cfg, tmp_path) as h:
        h.until(lambda: h.online("cp-1"))
        handlers = h.service.handlers()
        handlers["pass_add"]({"plate": "渝A·12345", "kind": "whitelist"})
        denied = handlers["plate"]({"checkpoint": "cp-1", "plate": "京B00000"})
        assert (denied["allowed"], denied["opened"], denied["result"]) == (False, False, "unknown")
        assert h.of("gate_denied", "cp-1")[0]["data"]["why"] == "unknown"
        allowed = handlers["plate"]({"checkpoint": "cp-1", "plate": "渝a 12345"})
        assert (allowed["allowed"], allowed["opened"], allowed["result"]) == (True, True, "whitelist")
        h.until(lambda: sim.pulses(cp1, cp1.open_coil) == 1)
        assert h.of("gate_opened", "cp-1")[0]["data"]["plate"] == "渝A12345"


def test_barrier_opened_without_command_raises_gate_forced(sim: BarrierSimulator, tmp_path: Path) -> None:
    cfg = gates_config(sim.port)
    _, cp2 = io_points(cfg)
    with Harness(cfg, tmp_path) as h:
        h.until(lambda: h.online("cp-2") and h.service.checkpoints["cp-2"].phase.value == "closed")
        sim.set_closed(cp2, False)  # someone lifts the barrier by hand
        forced = h.until(lambda: h.of("gate_forced", "cp-2"))
        assert forced[0]["priority"] == 0 and not h.of("gate_forced", "cp-1")
        assert not h.of("gate_opened")


def test_hold_closed_refuses_opens_and_expires(sim: BarrierSimulator, tmp_path: Path) -> None:
    cfg = gates_config(sim.port)
    cp1, _ = io_points(cfg)
    with Harness(cfg, tmp_path) as h:
        h.until(lambda: h.online("cp-1"))
        handlers = h.service.handlers()
        held = handlers["hold_closed"]({"checkpoint": "cp-1", "seconds": 0.6, "reason": "fever"})
        assert held["held"] and h.of("gate_held", "cp-1")[0]["data"]["reason"] == "fever"
        with pytest.raises(Refused, match="held closed"):
            handlers["open"]({"checkpoint": "cp-1"})
        assert handlers["plate"]({"checkpoint": "cp-1", "plate": "x"})["opened"] is False
        released = h.until(lambda: h.of("gate_released", "cp-1"))
        assert released[0]["data"]["how"] == "expired"
        assert sim.pulses(cp1, cp1.open_coil) == 0  # nothing reached the relay while held
        handlers["open"]({"checkpoint": "cp-1"})
        h.until(lambda: sim.pulses(cp1, cp1.open_coil) == 1)
        handlers["hold_closed"]({"checkpoint": "cp-1", "seconds": 60})
        assert not handlers["release"]({"checkpoint": "cp-1"})["held"]
        with pytest.raises(ValueError, match="unknown checkpoint"):
            handlers["hold_closed"]({"checkpoint": "nope", "seconds": 5})
        with pytest.raises(ValueError, match="seconds"):
            handlers["hold_closed"]({"checkpoint": "cp-1", "seconds": "a while"})


def test_server_going_away_is_offline_then_online(sim: BarrierSimulator, tmp_path: Path) -> None:
    cfg = gates_config(sim.port)
    with Harness(cfg, tmp_path) as h:
        h.until(lambda: h.online("cp-1") and h.online("cp-2"))
        sim.stop()
        h.until(lambda: len(h.of("gate_io_offline")) == 2)
        assert metric("edged_gates_checkpoints_online") == 0
        with pytest.raises(Refused, match="offline"):
            h.service.handlers()["open"]({"checkpoint": "cp-1"})
        offs = sum(1 for w in sim.writes if w.unit == 1 and not w.value)
        sim.start()  # same port
        h.until(lambda: len(h.of("gate_io_online")) == 2, timeout_s=8)
        assert metric("edged_gates_checkpoints_online") == 2
        assert metric("edged_gates_io_errors_total", checkpoint="cp-1", kind="connect") > 0
        assert h.service.links["io-1"].connects >= 2
        # After a reconnect every relay is written again (off), whatever it was before.
        h.until(lambda: sum(1 for w in sim.writes if w.unit == 1 and not w.value) >= offs + 2)


def test_exception_responses_are_counted_and_only_that_checkpoint_goes_offline(
    sim: BarrierSimulator, tmp_path: Path
) -> None:
    cfg = gates_config(sim.port)
    with Harness(cfg, tmp_path) as h:
        h.until(lambda: h.online("cp-1") and h.online("cp-2"))
        before = metric("edged_gates_io_errors_total", checkpoint="cp-2", kind="exception")
        sim.set_fault(2)
        offline = h.until(lambda: h.of("gate_io_offline", "cp-2"))
        assert offline[0]["data"]["reason"] == "exception"
        assert metric("edged_gates_io_errors_total", checkpoint="cp-2", kind="exception") >= before + 3
        assert h.online("cp-1") and not h.of("gate_io_offline", "cp-1")
        sim.set_fault(2, None)
        h.until(lambda: h.of("gate_io_online", "cp-2"))
        h.service.handlers()["open"]({"checkpoint": "cp-2"})  # usable again


class GarbageDevice:
    """A TCP peer that answers Modbus requests with junk, then with well-framed nonsense."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.port = int(self.sock.getsockname()[1])
        self.framed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            while True:
                try:
                    req = conn.recv(260)
                    if not req:
                        return
                    if self.framed and req[7] == 0x05:  # writes: the proper echo
                        conn.sendall(req)
                    elif self.framed:  # right transaction id and unit; a read reply with no data
                        pdu = bytes([req[7], 0x00])
                        conn.sendall(req[:2] + b"\0\0" + struct.pack(">H", len(pdu) + 1) + req[6:7] + pdu)
                    else:
                        conn.sendall(b"\xde\xad\xbe\xef" * 5)
                except OSError:
                    return

    def close(self) -> None:
        self.sock.close()


def test_garbage_answers_are_counted_and_the_worker_keeps_running(tmp_path: Path) -> None:
    device = GarbageDevice()
    cfg = gates_config(device.port, n=1, timeout_s=0.2, reconnect_min_s=0.05, reconnect_max_s=0.1)
    try:
        with Harness(cfg, tmp_path) as h:
            h.until(lambda: h.of("gate_io_offline", "cp-1"))
            h.until(lambda: metric("edged_gates_io_errors_total", checkpoint="cp-1", kind="timeout") > 0)
            device.framed = True
            h.until(lambda: metric("edged_gates_io_errors_total", checkpoint="cp-1", kind="malformed") > 0)
            assert not h.online("cp-1")
            assert h.service.handlers()["status"]({})["checkpoints"][0]["online"] is False
            assert all(
                link._thread is not None and link._thread.is_alive() for link in h.service.links.values()
            )
    finally:
        device.close()


def test_relay_pulse_is_full_length_when_late_and_dropped_when_stale(sim: BarrierSimulator) -> None:
    cfg = gates_config(sim.port, n=1)
    io = io_points(cfg)[0]
    link = ModbusIoLink(cfg.devices[0], [("cp-1", io)], queue.Queue[IoReport]())
    link.start()
    try:
        wait_until(lambda: sum(1 for w in sim.writes if not w.value) >= 2)  # relays written off at connect
        sim.set_fault(1)  # the device refuses requests for a while
        link.pulse("cp-1", "open")
        wait_until(lambda: link.pulses_dropped == 1, PULSE_STALE_S + 2)
        sim.set_fault(1, None)
        time.sleep(0.5)
        assert sim.pulses(io, io.open_coil) == 0  # a stale open never reaches the barrier

        sim.set_fault(1)
        link.pulse("cp-1", "open")
        time.sleep(0.5)  # longer than pulse_s (0.1 s): once written, the pulse must still be whole
        sim.set_fault(1, None)
        wait_until(lambda: sim.pulses(io, io.open_coil) == 1 and not sim.coil(io, io.open_coil))
        on, off = [w for w in sim.writes if w.unit == 1 and w.address == io.open_coil][-2:]
        assert (on.value, off.value) == (True, False)
        assert off.t - on.t >= io.pulse_s * 0.9
    finally:
        link.stop()
