"""Barrier relays and loop / limit inputs over Modbus TCP (pymodbus), one thread per device.

The link thread owns its client: it polls every checkpoint's discrete inputs, writes the relay
coils, reconnects with jittered exponential backoff, and reports samples and online/offline
changes through a queue, so a slow or dead device never blocks the worker's loop. A device that
answers with Modbus exceptions or garbage is counted by checkpoint and kind and logged once; the
link closes the socket (a stream that carried garbage cannot be trusted) and keeps going.

Relays are driven by *desired state*: every coil whose desired state the device has not
confirmed is written again, also after a reconnect, so a relay is never left energised by a link
that dropped mid-pulse. A pulse lasts `pulse_s` from the moment the device confirmed "on" (a
late write still gives the barrier controller a full pulse); one not taken within
PULSE_STALE_S is dropped, never replayed late.
"""

from __future__ import annotations

import functools
import logging
import queue
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import structlog
from pymodbus.client import ModbusTcpClient
from pymodbus.exceptions import ConnectionException, ModbusException, ModbusIOException

from edged.config.gates import CheckpointIOConfig, ModbusDeviceConfig
from edged.gates.metrics import IO_ERRORS, IO_ROUNDTRIP

_log = structlog.get_logger("edged.gates.io")
# pymodbus logs every failed request itself; the link counts and logs once instead.
logging.getLogger("pymodbus").setLevel(logging.CRITICAL)

# A relay pulse the device has not taken this long after it was asked for is dropped: a barrier
# must not open seconds after the vehicle (and the decision) are gone.
PULSE_STALE_S = 2.0

ErrorKind = Literal["connect", "timeout", "exception", "malformed"]


@dataclass(frozen=True)
class InputSample:
    """The inputs of one checkpoint as read at monotonic time `t`."""

    checkpoint: str
    loop: bool
    closed: bool | None  # None: no limit switch wired
    t: float


@dataclass(frozen=True)
class LinkStatus:
    """A checkpoint's IO went online or offline."""

    checkpoint: str
    online: bool
    device: str
    reason: str
    t: float


IoReport = InputSample | LinkStatus


class _BadReply(Exception):
    def __init__(self, kind: ErrorKind, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind


@dataclass
class _Point:
    checkpoint: str
    io: CheckpointIOConfig
    failures: int = 0
    online: bool | None = None  # None until the first poll decides
    logged: set[str] = field(default_factory=set)

    @property
    def inputs(self) -> tuple[int, int]:
        """First address and count of one read that covers both inputs."""
        addrs = [self.io.loop_input] + ([self.io.closed_input] if self.io.closed_input is not None else [])
        return min(addrs), max(addrs) - min(addrs) + 1


@dataclass
class _Coil:
    pulse_s: float
    desired: bool = False
    confirmed: bool | None = None  # None: unknown (start, reconnect)
    off_at: float | None = None  # set when the device confirmed "on": every pulse is full length
    give_up_at: float | None = None  # an "on" not written by then is dropped, never replayed late


class ModbusIoLink:
    """Polls one Modbus TCP device for its checkpoints; reports into `reports`."""

    def __init__(
        self,
        device: ModbusDeviceConfig,
        points: Sequence[tuple[str, CheckpointIOConfig]],
        reports: queue.Queue[IoReport],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.device = device
        self._points = [_Point(cp, io) for cp, io in points]
        self._by_cp = {p.checkpoint: p for p in self._points}
        self._reports = reports
        self._clock = clock
        self._lock = threading.Lock()
        self._coils: dict[tuple[int, int], _Coil] = {}
        for p in self._points:
            for addr in (p.io.open_coil, p.io.close_coil):
                if addr is not None:
                    self._coils[(p.io.unit, addr)] = _Coil(p.io.pulse_s)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._client: ModbusTcpClient | None = None
        self._backoff = device.reconnect_min_s
        self._reconnect_at = -float("inf")
        self.connects = 0
        self.samples_dropped = 0
        self.pulses_dropped = 0

    # -- called from the worker thread -------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"modbus-{self.device.name}", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 2.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    def pulse(self, checkpoint: str, which: Literal["open", "close"]) -> bool:
        """Turn the checkpoint's open/close relay on for its `pulse_s`; False if none is wired."""
        point = self._by_cp[checkpoint]
        addr = point.io.open_coil if which == "open" else point.io.close_coil
        if addr is None:
            return False
        now = self._clock()
        with self._lock:
            coil = self._coils[(point.io.unit, addr)]
            if coil.desired and coil.confirmed and coil.off_at is not None:
                coil.off_at = now + coil.pulse_s  # already on: keep it on
            else:
                coil.desired, coil.off_at, coil.give_up_at = True, None, now + PULSE_STALE_S
        self._wake.set()
        return True

    # -- the link thread ---------------------------------------------------------------------

    def _run(self) -> None:
        next_poll = self._clock()
        while not self._stop.is_set():
            now = self._clock()
            if self._client is None:
                if now < self._reconnect_at:
                    self._wait(self._reconnect_at - now)
                    continue
                if not self._connect():
                    self._reconnect_at = self._clock() + self._next_backoff()
                    continue
                next_poll = now = self._clock()
            self._write_coils(now)
            if self._client is not None and now >= next_poll:
                next_poll = now + self.device.poll_interval_s
                self._poll_inputs()
            self._wait(max(0.0, min(next_poll, self._next_coil_deadline()) - self._clock()))
        self._close_client()

    def _wait(self, seconds: float) -> None:
        self._wake.wait(seconds)
        self._wake.clear()

    def _next_backoff(self) -> float:
        delay = self._backoff
        self._backoff = min(self.device.reconnect_max_s, self._backoff * 2)
        return random.uniform(delay / 2, delay)  # jitter: boxes rebooted together do not stampede

    def _next_coil_deadline(self) -> float:
        with self._lock:
            deadlines = [t for c in self._coils.values() for t in (c.off_at, c.give_up_at) if t is not None]
        return min(deadlines, default=float("inf"))

    def _connect(self) -> bool:
        client = ModbusTcpClient(
            self.device.host, port=self.device.port, timeout=self.device.timeout_s, retries=0
        )
        try:
            ok = bool(client.connect())
        except Exception as exc:  # a resolver or socket error: same as a refused connection
            ok, reason = False, f"{type(exc).__name__}: {exc}"
        else:
            reason = "connection refused or timed out"
        if not ok:
            client.close()
            for point in self._points:
                self._failed(point, "connect", reason)
            return False
        self._client = client
        self.connects += 1
        with self._lock:
            for coil in self._coils.values():
                coil.confirmed = None  # the device may have restarted: write every relay again
        return True

    def _close_client(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def _drop_client(self) -> None:
        """Close a connection that failed or carried garbage; reconnect after the backoff."""
        self._close_client()
        self._reconnect_at = self._clock() + self._next_backoff()

    def _write_coils(self, now: float) -> None:
        with self._lock:
            for (unit, addr), coil in self._coils.items():
                if coil.off_at is not None and now >= coil.off_at:
                    coil.desired, coil.off_at = False, None
                elif coil.give_up_at is not None and now >= coil.give_up_at:
                    coil.desired, coil.give_up_at = False, None
                    self.pulses_dropped += 1
                    _log.warning(
                        "relay pulse dropped: device did not take it in time",
                        device=self.device.name,
                        unit=unit,
                        coil=addr,
                        stale_s=PULSE_STALE_S,
                    )
            todo = [(key, c.desired) for key, c in self._coils.items() if c.confirmed is not c.desired]
        for (unit, addr), value in todo:
            point = self._point_for_coil(unit, addr)
            try:
                self._exchange("write", functools.partial(self._do_write, unit, addr, value))
            except _BadReply as exc:
                self._failed(point, exc.kind, str(exc))
                return
            with self._lock:
                coil = self._coils[(unit, addr)]
                if coil.desired is value:
                    coil.confirmed = value
                    if value and coil.off_at is None:
                        coil.off_at, coil.give_up_at = self._clock() + coil.pulse_s, None

    def _do_write(self, unit: int, addr: int, value: bool) -> None:
        assert self._client is not None
        reply = self._client.write_coil(addr, value, device_id=unit)
        _check(reply)

    def _poll_inputs(self) -> None:
        for point in self._points:
            if self._client is None:
                return
            first, count = point.inputs
            try:
                bits = self._exchange("read", functools.partial(self._do_read, point, first, count))
            except _BadReply as exc:
                self._failed(point, exc.kind, str(exc))
                continue
            t = self._clock()
            closed = None if point.io.closed_input is None else bits[point.io.closed_input - first]
            self._ok(point, t)
            sample = InputSample(point.checkpoint, bits[point.io.loop_input - first], closed, t)
            try:
                self._reports.put_nowait(sample)  # never block the IO thread on a stalled worker loop
            except queue.Full:
                self.samples_dropped += 1  # the next sample carries the same state

    def _do_read(self, point: _Point, first: int, count: int) -> list[bool]:
        assert self._client is not None
        reply = self._client.read_discrete_inputs(first, count=count, device_id=point.io.unit)
        _check(reply)
        bits = getattr(reply, "bits", None)
        if not isinstance(bits, list) or len(bits) < count:
            raise _BadReply("malformed", f"asked for {count} inputs, got {bits!r}"[:200])
        return [bool(b) for b in bits[:count]]

    def _exchange(self, op: str, call: Callable[[], Any]) -> Any:
        """Run one request, timing it; turn every failure into a _BadReply of a known kind."""
        t0 = time.perf_counter()
        try:
            result = call()
        except _BadReply as exc:
            if exc.kind == "malformed":
                self._drop_client()
            raise
        except ModbusIOException as exc:  # no (complete) answer in time
            self._drop_client()
            raise _BadReply("timeout", str(exc)) from None
        except ConnectionException as exc:
            self._drop_client()
            raise _BadReply("connect", str(exc)) from None
        except (ModbusException, ValueError, TypeError, IndexError, KeyError, OSError) as exc:
            self._drop_client()  # garbage on the stream: start a clean one
            raise _BadReply("malformed", f"{type(exc).__name__}: {exc}") from None
        IO_ROUNDTRIP.labels(op=op).observe(time.perf_counter() - t0)
        return result

    def _point_for_coil(self, unit: int, addr: int) -> _Point:
        return next(
            p for p in self._points if p.io.unit == unit and addr in (p.io.open_coil, p.io.close_coil)
        )

    def _failed(self, point: _Point, kind: ErrorKind, detail: str) -> None:
        IO_ERRORS.labels(checkpoint=point.checkpoint, kind=kind).inc()
        if kind not in point.logged:  # once per kind until the checkpoint is healthy again
            point.logged.add(kind)
            _log.warning(
                "gate io error",
                checkpoint=point.checkpoint,
                device=self.device.name,
                kind=kind,
                detail=detail[:300],
            )
        point.failures += 1
        enough = point.failures >= self.device.offline_after or point.online is None  # at start: at once
        if point.online is not False and enough:
            point.online = False
            self._reports.put(LinkStatus(point.checkpoint, False, self.device.name, kind, self._clock()))

    def _ok(self, point: _Point, t: float) -> None:
        self._backoff = self.device.reconnect_min_s
        point.failures = 0
        point.logged.clear()
        if point.online is not True:
            point.online = True
            self._reports.put(LinkStatus(point.checkpoint, True, self.device.name, "answering", t))


def _check(reply: Any) -> None:
    """A Modbus exception response (or an object that is not a response) is a failed exchange."""
    is_error = getattr(reply, "isError", None)
    if not callable(is_error):
        raise _BadReply("malformed", f"not a Modbus response: {reply!r}"[:200])
    if is_error():
        code = getattr(reply, "exception_code", None)
        raise _BadReply("exception", f"exception response code {code}")
