"""Simulated RS-485 buses of OSDP readers: libosdp's own PeripheralDevice on each address.

Each bus is a pty pair (the control panel opens the slave, as it would a USB RS-485 adapter;
an optional symlink gives it a stable path) or a TCP listener (a serial server). The sim
hands each frame from the panel to the reader it addresses (every reader on a multidrop wire
hears it, and libosdp's PDs skip frames for other addresses: this only saves their CPU) and
refreshes the PDs from one loop that wakes when the panel writes. `set_latency` delays
replies, as a slow serial server or a loaded box does (late replies are what libosdp handles
worst). Readers are scripted: swipe a card, type a PIN, show a QR code, open the door,
press the exit button, tamper, go silent; a bus can vanish (adapter unplugged) and return.
Run as a process with a control socket: ``python -m edged.drivers.osdp_sim SPEC.json``.
"""

from __future__ import annotations

import heapq
import os
import select
import socket
import threading
import time
import tty
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import osdp

from edged.access.cards import wiegand_frame
from edged.drivers.osdp_frames import BROADCAST, FrameChecker, build_frame

CAPS = [
    (osdp.Capability.OutputControl, 1, 4),
    (osdp.Capability.ContactStatusMonitoring, 1, 4),
    (osdp.Capability.CardDataFormat, 1, 1),
    (osdp.Capability.LEDControl, 1, 1),
    (osdp.Capability.CommunicationSecurity, 1, 1),
]


class _Wire(osdp.Channel):
    """A reader's tap on the bus: bytes from the panel are queued here; replies go out."""

    def __init__(self, bus: SimBus) -> None:
        super().__init__()
        self.buf = bytearray()
        self.bus = bus

    def read(self, max_bytes: int) -> bytes:
        data = bytes(self.buf[:max_bytes])
        del self.buf[:max_bytes]
        return data

    def write(self, buf: bytes) -> int:
        self.bus.send(buf)
        return len(buf)

    def flush(self) -> None:
        self.buf.clear()


@dataclass
class Unlock:
    t: float  # time.monotonic() when the reader got the command (system-wide clock)
    action: str
    seconds: float


class SimReader:
    def __init__(self, bus: SimBus, address: int, scbk: bytes | None, install_mode: bool = False) -> None:
        self.bus, self.address = bus, address
        self.wire = _Wire(bus)
        flags = [osdp.LibFlag.InstallMode] if install_mode else []
        info = osdp.PDInfo(address, self.wire, scbk=scbk, flags=flags, name=f"sim-{bus.id}-{address}")
        self.pd = osdp.PeripheralDevice(info, osdp.PDCapabilities(CAPS), log_level=osdp.LogLevel.Emergency)
        self.pd.lock = threading.Lock()  # submit_event needs it; we refresh from our own loop
        self.pd.ctx.set_command_callback(self._on_command)
        self.inputs = [0, 0, 0, 0]  # 0: door contact (1 = open), 1: exit button
        self.tamper = False
        self.silent = False
        self.key = scbk
        self.unlocks: list[Unlock] = []
        self.lock_on = False
        self.was_online = False

    def _on_command(self, cmd: dict[str, Any]) -> tuple[int, dict[str, Any] | None]:
        c = cmd.get("command")
        if c == osdp.Command.Output:
            code = cmd.get("control_code")
            action = {5: "pulse", 2: "on", 1: "off"}.get(int(code or 0), f"code{code}")
            self.unlocks.append(Unlock(time.monotonic(), action, int(cmd.get("timer_count", 0)) / 10))
            self.lock_on = action in ("pulse", "on")
        elif c == osdp.Command.Keyset:
            self.key = bytes(cmd["data"])
        return 0, None

    def _submit(self, event: dict[str, Any]) -> None:
        with self.bus.lock:
            self.pd.ctx.submit_event(event)

    # --- script ----------------------------------------------------------------------------
    def swipe(self, number: int, bits: int = 34) -> None:
        data, n = wiegand_frame(number, bits)
        self._submit(
            {
                "event": osdp.Event.CardRead,
                "reader_no": 0,
                "direction": 0,
                "length": n,
                "format": osdp.CardFormat.Wiegand,
                "data": data,
            }
        )

    def show_qr(self, text: str) -> None:
        data = text.encode()
        self._submit(
            {
                "event": osdp.Event.CardRead,
                "reader_no": 0,
                "direction": 0,
                "length": len(data) * 8,
                "format": osdp.CardFormat.Unspecified,
                "data": data,
            }
        )

    def type_pin(self, digits: str) -> None:
        self._submit({"event": osdp.Event.KeyPress, "reader_no": 0, "data": (digits + "#").encode()})

    def status_event(self) -> dict[str, Any]:
        return {"event": osdp.Event.Status, "type": osdp.StatusReportType.Input, "report": bytes(self.inputs)}

    def local_event(self) -> dict[str, Any]:
        return {
            "event": osdp.Event.Status,
            "type": osdp.StatusReportType.Local,
            "report": bytes([int(self.tamper), 0]),
        }

    def _inputs_changed(self) -> None:
        self._submit(self.status_event())

    def set_door(self, is_open: bool) -> None:
        self.inputs[0] = int(is_open)
        self._inputs_changed()

    def press_exit(self) -> None:
        self.inputs[1] = 1
        self._inputs_changed()
        self.inputs[1] = 0
        self._inputs_changed()

    def set_tamper(self, active: bool) -> None:
        self.tamper = active
        self._submit(self.local_event())

    def set_silent(self, silent: bool) -> None:
        with self.bus.lock:
            self.silent = silent
            self.wire.buf.clear()

    def send_malformed(self) -> None:
        """A reply from this address with a broken CRC, as a noisy line would deliver it."""
        frame = bytearray(build_frame(0x80 | self.address, 0x40))
        frame[-1] ^= 0xFF
        with self.bus.lock:
            self.bus.send(bytes(frame))

    def secure(self) -> bool:
        return bool(self.pd.ctx.is_sc_active())


class SimBus:
    def __init__(
        self, bus_id: str, transport: str = "pty", link: Path | None = None, tcp_port: int = 0
    ) -> None:
        self.id, self.transport, self.link = bus_id, transport, link
        self.lock = threading.RLock()
        self.readers: dict[int, SimReader] = {}
        self._master = -1
        self._slave = -1
        self._listener: socket.socket | None = None
        self._client: socket.socket | None = None
        self.tcp_port = tcp_port
        self.port = ""
        self._frames = FrameChecker(lambda _reason: None, verify=False)  # the PDs check CRCs
        self._delayed: list[tuple[float, int, bytes]] = []  # (due, n, reply) heap
        self._replies = 0
        self.latency_s = 0.0
        self.spike_s = 0.0
        self.spike_every = 0
        self.open()

    def set_latency(self, base_s: float, spike_s: float = 0.0, spike_every: int = 0) -> None:
        """Delay every reply by `base_s`, and every `spike_every`-th one by `spike_s` instead."""
        with self.lock:
            self.latency_s, self.spike_s, self.spike_every = base_s, spike_s, spike_every

    def add_reader(self, address: int, scbk: bytes | None, install_mode: bool = False) -> SimReader:
        r = SimReader(self, address, scbk, install_mode)
        self.readers[address] = r
        return r

    # --- the wire ---------------------------------------------------------------------------
    def open(self) -> None:
        with self.lock:
            if self.transport == "pty":
                self._master, self._slave = os.openpty()
                tty.setraw(self._master)
                tty.setraw(self._slave)
                os.set_blocking(self._master, False)
                self.port = os.ttyname(self._slave)
                if self.link is not None:
                    tmp = self.link.with_suffix(".new")
                    tmp.unlink(missing_ok=True)
                    tmp.symlink_to(self.port)
                    tmp.replace(self.link)
                    self.port = str(self.link)
            else:
                self._listener = socket.create_server(("127.0.0.1", self.tcp_port))
                self._listener.setblocking(False)
                self.tcp_port = self._listener.getsockname()[1]
                self.port = f"tcp://127.0.0.1:{self.tcp_port}"

    def vanish(self) -> None:
        """The adapter is unplugged / the serial server is gone."""
        with self.lock:
            if self.link is not None:
                self.link.unlink(missing_ok=True)
            for fd in (self._master, self._slave):
                if fd >= 0:
                    os.close(fd)
            self._master = self._slave = -1
            for s in (self._client, self._listener):
                if s is not None:
                    s.close()
            self._client = self._listener = None
            self._delayed.clear()
            self._frames.reset()
            for r in self.readers.values():
                r.wire.buf.clear()

    def send(self, data: bytes) -> None:
        if self.latency_s or self.spike_every:
            self._replies += 1
            spike = self.spike_every and self._replies % self.spike_every == 0
            due = time.monotonic() + (self.spike_s if spike else self.latency_s)
            heapq.heappush(self._delayed, (due, self._replies, data))
            return
        self._write(data)

    def _write(self, data: bytes) -> None:
        try:
            if self._master >= 0:
                os.write(self._master, data)
            elif self._client is not None:
                self._client.sendall(data)
        except OSError:
            pass

    def _receive(self) -> bytes:
        try:
            if self._master >= 0:
                return os.read(self._master, 4096)
            if self._listener is not None and self._client is None:
                try:
                    self._client, _ = self._listener.accept()
                    self._client.setblocking(False)
                except BlockingIOError:
                    return b""
            if self._client is not None:
                data = self._client.recv(4096)
                if not data:
                    self._client.close()
                    self._client = None
                return data
        except (BlockingIOError, InterruptedError):
            return b""
        except OSError:
            return b""
        return b""

    def fileno(self) -> int:
        """What to wait on for the panel's bytes (-1: nothing open)."""
        if self._master >= 0:
            return self._master
        sock = self._client or self._listener
        return sock.fileno() if sock is not None else -1

    def next_due(self) -> float | None:
        return self._delayed[0][0] if self._delayed else None

    def step(self, idle_refresh: bool = True) -> bool:
        """Hand the panel's frames to the readers they address and refresh those; every reader
        is refreshed on `idle_refresh` (timers, queued events). Delayed replies that are due go
        out. Returns whether bytes arrived."""
        with self.lock:
            now = time.monotonic()
            while self._delayed and self._delayed[0][0] <= now:
                self._write(heapq.heappop(self._delayed)[2])
            data = self._receive()
            if not data and not idle_refresh:
                return False
            touched: set[int] = set()
            for f in self._frames.feed(data) if data else []:
                for a, r in self.readers.items():
                    if a == f.address or f.address == BROADCAST:
                        r.wire.buf.extend(f.raw)
                        touched.add(a)
            for a, r in self.readers.items():
                if r.silent:
                    r.wire.buf.clear()
                    continue
                if idle_refresh or a in touched:
                    self._refresh(r)
            return bool(data)

    @staticmethod
    def _refresh(r: SimReader) -> None:
        r.pd.ctx.refresh()
        online = bool(r.pd.ctx.is_online())
        if online and not r.was_online:  # (re)connected: report inputs and tamper, as readers do
            r.pd.ctx.submit_event(r.status_event())
            r.pd.ctx.submit_event(r.local_event())
        r.was_online = online

    def close(self) -> None:
        self.vanish()


IDLE_REFRESH_S = 0.02


class Simulator:
    """All buses, stepped from one thread every ~1 ms."""

    def __init__(self) -> None:
        self.buses: dict[str, SimBus] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def add_bus(self, bus_id: str, transport: str = "pty", link: Path | None = None) -> SimBus:
        bus = SimBus(bus_id, transport, link)
        self.buses[bus_id] = bus
        return bus

    def reader(self, bus_id: str, address: int) -> SimReader:
        return self.buses[bus_id].readers[address]

    def start(self) -> Simulator:
        self._thread = threading.Thread(target=self._run, name="osdp-sim", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        last_idle = 0.0
        while not self._stop.is_set():
            now = time.monotonic()
            idle = now - last_idle >= IDLE_REFRESH_S
            if idle:
                last_idle = now
            busy = False
            buses = list(self.buses.values())
            for bus in buses:
                busy = bus.step(idle) or busy
            if busy:
                continue
            wait = last_idle + IDLE_REFRESH_S - time.monotonic()
            dues = [d for d in (b.next_due() for b in buses) if d is not None]
            if dues:
                wait = min(wait, min(dues) - time.monotonic())
            fds = [fd for fd in (b.fileno() for b in buses) if fd >= 0]
            if wait > 0:
                try:
                    select.select(fds, [], [], wait)
                except (OSError, ValueError):  # a bus vanished under us
                    time.sleep(0.001)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        for bus in self.buses.values():
            bus.close()

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


def serve(spec: dict[str, Any]) -> None:
    """Run buses from a spec and obey msgpack commands on a zmq REP socket (for bench and demo).

    Spec: {"control": "ipc://...", "buses": [{"id", "transport", "link", "readers":
    [{"address", "key" (hex or null), "install_mode"}]}]}. Ops: {"op": "swipe"|"door"|"exit"|
    "tamper"|"silent"|"pin"|"qr"|"vanish"|"restore"|"ping"|"stop", "bus", "address", ...}.
    """
    import msgpack
    import zmq

    sim = Simulator()
    for b in spec["buses"]:
        bus = sim.add_bus(b["id"], b.get("transport", "pty"), Path(b["link"]) if b.get("link") else None)
        for r in b["readers"]:
            key = bytes.fromhex(r["key"]) if r.get("key") else None
            bus.add_reader(int(r["address"]), key, bool(r.get("install_mode", False)))
    sim.start()
    ctx = zmq.Context()
    sock = ctx.socket(zmq.REP)
    sock.bind(spec["control"])
    try:
        while True:
            req = msgpack.unpackb(sock.recv())
            op = req.get("op")
            try:
                result = _op(sim, op, req)
            except (KeyError, ValueError, TypeError) as exc:
                result = {"error": str(exc)}
            sock.send(msgpack.packb(result))
            if op == "stop":
                break
    finally:
        sock.close(linger=0)
        ctx.term()
        sim.stop()


def _op(sim: Simulator, op: str, req: dict[str, Any]) -> Any:
    if op in ("ping", "stop"):
        return {"ok": True}
    bus = sim.buses[req["bus"]]
    if op == "vanish":
        bus.vanish()
        return {"ok": True}
    if op == "restore":
        bus.open()
        return {"ok": True}
    r = bus.readers[int(req["address"])]
    t = time.monotonic()
    if op == "swipe":
        r.swipe(int(req["card"]))
    elif op == "qr":
        r.show_qr(str(req["text"]))
    elif op == "pin":
        r.type_pin(str(req["digits"]))
    elif op == "door":
        r.set_door(bool(req["open"]))
    elif op == "exit":
        r.press_exit()
    elif op == "tamper":
        r.set_tamper(bool(req["active"]))
    elif op == "silent":
        r.set_silent(bool(req["silent"]))
    elif op == "unlocks":
        return [[u.t, u.action, u.seconds] for u in r.unlocks]
    else:
        raise ValueError(f"unknown op {op!r}")
    return {"ok": True, "t": t}


if __name__ == "__main__":
    import json
    import sys

    serve(json.loads(Path(sys.argv[1]).read_text()))
