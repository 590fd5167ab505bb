"""A simulated barrier IO module: pymodbus's own Modbus TCP server with barrier physics.

Used by the tests and by `edged demo`. Each checkpoint is a set of coils (open / close relays)
and discrete inputs (loop presence, closed limit switch) on a Modbus unit, exactly as the
config describes them. With ``motion_s`` set, a pulse on the open relay lifts the barrier (the
closed limit goes off after ``motion_s``) and a pulse on the close relay lowers it, never onto a
vehicle on the loop. Faults can be injected per unit (every request answered with a Modbus
exception), and the server can be stopped and started again on the same port.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from edged.config.gates import CheckpointIOConfig

T = TypeVar("T")
_FC_READ_DI, _FC_WRITE_COIL, _FC_WRITE_COILS = 2, 5, 15


@dataclass(frozen=True)
class CoilWrite:
    t: float
    unit: int
    address: int
    value: bool


class BarrierSimulator:
    """Call `start()` (returns the port), then drive it from any thread; `stop()` to go away."""

    def __init__(
        self,
        points: Sequence[CheckpointIOConfig],
        host: str = "127.0.0.1",
        port: int = 0,
        motion_s: float | None = 0.3,
    ) -> None:
        self.points = list(points)
        self.host, self.port = host, port
        self.motion_s = motion_s
        self.writes: list[CoilWrite] = []
        self.faults: dict[int, ExcCodes] = {}
        self._internal = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: ModbusTcpServer | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._tasks: set[asyncio.Task[None]] = set()

    # -- life cycle ----------------------------------------------------------------------------

    def start(self) -> int:
        self._ready.clear()
        self._thread = threading.Thread(target=self._run, name="barrier-sim", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("Modbus simulator did not start")
        if self._server is None:
            raise RuntimeError(f"Modbus simulator could not listen on {self.host}:{self.port}")
        return self.port

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(5)
        thread.join(5)
        self._loop = self._thread = self._server = None

    def __enter__(self) -> BarrierSimulator:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        finally:
            loop.close()

    async def _serve(self) -> None:
        self._stopped = asyncio.Event()
        try:
            server = ModbusTcpServer(self._devices(), address=(self.host, self.port))
            await server.serve_forever(background=True)
        except Exception:
            self._ready.set()
            return
        sockets = getattr(server.transport, "sockets", None) or []
        if sockets:
            self.port = int(sockets[0].getsockname()[1])
        self._server = server
        self._ready.set()
        await self._stopped.wait()
        await server.shutdown()
        for task in list(self._tasks):
            task.cancel()

    async def _shutdown(self) -> None:
        self._stopped.set()

    def _devices(self) -> list[SimDevice]:
        units: dict[int, list[CheckpointIOConfig]] = {}
        for p in self.points:
            units.setdefault(p.unit, []).append(p)
        devices = []
        for unit, pts in units.items():
            coils = [a for p in pts for a in (p.open_coil, p.close_coil) if a is not None]
            inputs = [a for p in pts for a in (p.loop_input, p.closed_input) if a is not None]
            size_c, size_d = (max(coils) // 16 + 1) * 16, (max(inputs) // 16 + 1) * 16
            closed = [any(p.closed_input == a for p in pts) for a in range(size_d)]  # barriers start closed
            blocks = (
                [SimData(0, count=size_c, values=False, datatype=DataType.BITS)],
                [SimData(0, values=closed, datatype=DataType.BITS)],
                [SimData(0, count=1, values=0, datatype=DataType.REGISTERS)],
                [SimData(0, count=1, values=0, datatype=DataType.REGISTERS)],
            )
            devices.append(SimDevice(id=unit, simdata=blocks, action=self._make_action(unit)))
        return devices

    # -- the device's behaviour ----------------------------------------------------------------

    def _make_action(self, unit: int) -> Any:
        async def action(
            fc: int,
            _start: int,
            address: int,
            count: int,
            _regs: list[int],
            values: list[int] | list[bool] | None,
        ) -> ExcCodes | None:
            if self._internal:
                return None
            if unit in self.faults:
                return self.faults[unit]
            if fc in (_FC_WRITE_COIL, _FC_WRITE_COILS) and values is not None:
                for i, v in enumerate(values[:count]):
                    self._on_coil(unit, address + i, bool(v))
            return None

        return action

    def _on_coil(self, unit: int, address: int, value: bool) -> None:
        self.writes.append(CoilWrite(time.monotonic(), unit, address, value))
        if not value or self.motion_s is None:
            return
        for p in self.points:
            if p.unit != unit or p.closed_input is None:
                continue
            if address == p.open_coil:
                self._spawn(self._move(p, closed=False))
            elif address == p.close_coil:
                self._spawn(self._move(p, closed=True))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _move(self, p: CheckpointIOConfig, closed: bool) -> None:
        assert self.motion_s is not None and p.closed_input is not None
        await asyncio.sleep(self.motion_s)
        while closed and (await self._get(p.unit, p.loop_input)):
            await asyncio.sleep(0.05)  # the barrier's own safety: never onto a vehicle
        await self._set(p.unit, p.closed_input, closed)

    async def _get(self, unit: int, address: int) -> bool:
        assert self._server is not None
        self._internal = True
        try:
            got = await self._server.context.async_getValues(unit, _FC_READ_DI, address, 1)
        finally:
            self._internal = False
        return bool(got[0]) if isinstance(got, list) else False

    async def _set(self, unit: int, address: int, value: bool) -> None:
        assert self._server is not None
        self._internal = True
        try:
            await self._server.context.async_setValues(unit, _FC_READ_DI, address, [value])
        finally:
            self._internal = False

    async def _get_coil(self, unit: int, address: int) -> bool:
        assert self._server is not None
        self._internal = True
        try:
            got = await self._server.context.async_getValues(unit, 1, address, 1)
        finally:
            self._internal = False
        return bool(got[0]) if isinstance(got, list) else False

    # -- thread-safe controls for tests and the demo -------------------------------------------

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        if self._loop is None:
            coro.close()
            raise RuntimeError("simulator is not running")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(5)

    def set_loop(self, p: CheckpointIOConfig, present: bool) -> None:
        self._call(self._set(p.unit, p.loop_input, present))

    def set_closed(self, p: CheckpointIOConfig, closed: bool) -> None:
        assert p.closed_input is not None
        self._call(self._set(p.unit, p.closed_input, closed))

    def barrier_closed(self, p: CheckpointIOConfig) -> bool:
        assert p.closed_input is not None
        return self._call(self._get(p.unit, p.closed_input))

    def coil(self, p: CheckpointIOConfig, address: int) -> bool:
        return self._call(self._get_coil(p.unit, address))

    def pulses(self, p: CheckpointIOConfig, address: int) -> int:
        """Rising edges written to a coil (on-writes that followed an off or the start)."""
        n, last = 0, False
        for w in list(self.writes):
            if w.unit == p.unit and w.address == address:
                n += int(w.value and not last)
                last = w.value
        return n

    def set_fault(self, unit: int, code: ExcCodes | None = ExcCodes.DEVICE_FAILURE) -> None:
        if code is None:
            self.faults.pop(unit, None)
        else:
            self.faults[unit] = code
