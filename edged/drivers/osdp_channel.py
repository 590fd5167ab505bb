"""Byte channels under a libosdp control panel: a serial port (USB RS-485 adapter, or the
slave end of a pty in simulation) or a TCP serial server (`tcp://host:port`).

libosdp calls `read`/`write`/`flush` from inside `refresh()`. A channel never raises into
libosdp: an OS error marks it down (the bus worker turns that into one `bus_fault`) and
`reopen()` tries again later. Every byte read is also fed to a `FrameChecker` so malformed
frames from devices are counted.
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import termios
import tty
from collections.abc import Callable

import osdp

_BAUDS = {
    9600: termios.B9600,
    19200: termios.B19200,
    38400: termios.B38400,
    57600: termios.B57600,
    115200: termios.B115200,
    230400: termios.B230400,
}


class BusChannel(osdp.Channel):
    """Base: down/up bookkeeping and the read tap."""

    def __init__(self, port: str, on_read: Callable[[bytes], None] | None = None) -> None:
        super().__init__()
        self.port = port
        self.down_reason: str | None = "not opened"
        self.on_read = on_read
        self.bytes_in = 0
        self.bytes_out = 0

    @property
    def up(self) -> bool:
        return self.down_reason is None

    def _fail(self, exc: OSError | str) -> None:
        self.down_reason = exc if isinstance(exc, str) else (exc.strerror or str(exc))
        self._close()

    def _close(self) -> None:  # pragma: no cover - overridden
        pass

    def reopen(self) -> bool:  # pragma: no cover - overridden
        raise NotImplementedError

    def close(self) -> None:
        self._close()
        self.down_reason = "closed"

    def drain(self) -> None:
        """libosdp flushes stale input before each command: read it through the tap instead of
        discarding it in the kernel, so an unsolicited malformed reply is still counted."""
        for _ in range(64):
            if not self.read(4096):
                return

    def _tap(self, data: bytes) -> bytes:
        if data:
            self.bytes_in += len(data)
            if self.on_read is not None:
                self.on_read(data)
        return data


class SerialChannel(BusChannel):
    """A tty: raw mode, non-blocking; an unplugged adapter or a closed pty master reads EIO."""

    def __init__(self, port: str, baud: int = 115200, on_read: Callable[[bytes], None] | None = None) -> None:
        super().__init__(port, on_read)
        self.baud = baud
        self._fd = -1

    def reopen(self) -> bool:
        self._close()
        try:
            fd = os.open(self.port, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        except OSError as exc:
            self._fail(exc)
            return False
        try:
            tty.setraw(fd)
            attrs = termios.tcgetattr(fd)
            speed = _BAUDS.get(self.baud, termios.B115200)
            attrs[4] = attrs[5] = speed
            termios.tcsetattr(fd, termios.TCSANOW, attrs)
            termios.tcflush(fd, termios.TCIOFLUSH)
        except (OSError, termios.error):
            pass  # a pty slave accepts most of this; a real adapter all of it
        self._fd = fd
        self.down_reason = None
        return True

    def read(self, max_bytes: int) -> bytes:
        if self._fd < 0:
            return b""
        try:
            data = os.read(self._fd, max_bytes)
        except BlockingIOError:
            return b""
        except OSError as exc:
            self._fail(exc)
            return b""
        if not data:  # EOF: the other end went away
            self._fail("end of file")
        return self._tap(data)

    def write(self, buf: bytes) -> int:
        if self._fd < 0:
            return 0
        try:
            n = os.write(self._fd, buf)
        except BlockingIOError:
            return 0
        except OSError as exc:
            self._fail(exc)
            return 0
        self.bytes_out += n
        return n

    def flush(self) -> None:
        self.drain()

    def _close(self) -> None:
        if self._fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = -1


class TcpChannel(BusChannel):
    """An RS-485-to-Ethernet serial server in raw TCP mode."""

    def __init__(self, port: str, on_read: Callable[[bytes], None] | None = None) -> None:
        super().__init__(port, on_read)
        host, _, p = port.removeprefix("tcp://").rpartition(":")
        self.addr = (host or "127.0.0.1", int(p))
        self._sock: socket.socket | None = None

    def reopen(self) -> bool:
        self._close()
        try:
            sock = socket.create_connection(self.addr, timeout=1.0)
        except OSError as exc:
            self._fail(exc)
            return False
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock = sock
        self.down_reason = None
        return True

    def read(self, max_bytes: int) -> bytes:
        if self._sock is None:
            return b""
        try:
            data = self._sock.recv(max_bytes)
        except BlockingIOError:
            return b""
        except OSError as exc:
            self._fail(exc)
            return b""
        if not data:
            self._fail("connection closed")
        return self._tap(data)

    def write(self, buf: bytes) -> int:
        if self._sock is None:
            return 0
        try:
            n = self._sock.send(buf)
        except BlockingIOError:
            return 0
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN,):
                self._fail(exc)
            return 0
        self.bytes_out += n
        return n

    def flush(self) -> None:
        self.drain()

    def _close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def open_channel(port: str, baud: int, on_read: Callable[[bytes], None] | None = None) -> BusChannel:
    """The channel for a bus's `port`; it is returned even when the first open fails (down)."""
    ch: BusChannel = (
        TcpChannel(port, on_read) if port.startswith("tcp://") else SerialChannel(port, baud, on_read)
    )
    ch.reopen()
    return ch
