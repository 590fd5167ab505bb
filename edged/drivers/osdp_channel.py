"""Byte channels under a libosdp control panel: a serial port (USB RS-485 adapter, or the
slave end of a pty in simulation) or a TCP serial server (`tcp://host:port`).

libosdp calls `read`/`write`/`flush` from inside `refresh()`. A channel never raises into
libosdp: an OS error marks it down (the bus worker turns that into one `bus_fault`) and
`reopen()` tries again later. The bus's `ReplyGate` sees every byte: what is read goes through
it (libosdp gets only the reply to the command that is out), and it may hold back a write
(libosdp's first re-send of a command whose reply is late).
The worker loop polls `fileno()` once a pass and sets `readable` from it: the channel then
reads the transport only when the poll said there is input, instead of a failing non-blocking
read on every refresh (three in four reads were EAGAIN before, each a raised exception).
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import termios
import tty

import osdp

from edged.drivers.osdp_frames import ReplyGate

_BAUDS = {
    9600: termios.B9600,
    19200: termios.B19200,
    38400: termios.B38400,
    57600: termios.B57600,
    115200: termios.B115200,
    230400: termios.B230400,
}


class BusChannel(osdp.Channel):
    """Base: down/up bookkeeping and the gate."""

    def __init__(self, port: str, gate: ReplyGate | None = None) -> None:
        super().__init__()
        self.port = port
        self.down_reason: str | None = "not opened"
        self.gate = gate
        self.bytes_in = 0
        self.bytes_out = 0
        self._pending = bytearray()  # filtered bytes libosdp has not read yet
        # None: nobody polls the descriptor, so every read tries the transport. True/False: the
        # owner's last poll found input / none (a short read since then also means none left).
        self.readable: bool | None = None

    @property
    def up(self) -> bool:
        return self.down_reason is None

    @property
    def pending(self) -> bool:
        """Filtered bytes wait for libosdp's next read."""
        return bool(self._pending)

    def _fail(self, exc: OSError | str) -> None:
        self.down_reason = exc if isinstance(exc, str) else (exc.strerror or str(exc))
        self._close()
        self._pending.clear()  # nothing read before the loss answers anything after it

    # --- transport, overridden ---------------------------------------------------------------
    def _recv(self, max_bytes: int) -> bytes:  # pragma: no cover - overridden
        raise NotImplementedError

    def _send(self, buf: bytes) -> int:  # pragma: no cover - overridden
        raise NotImplementedError

    def _close(self) -> None:  # pragma: no cover - overridden
        pass

    def reopen(self) -> bool:  # pragma: no cover - overridden
        raise NotImplementedError

    def fileno(self) -> int:  # pragma: no cover - overridden
        return -1

    # --- what libosdp calls ------------------------------------------------------------------
    def _take(self) -> bool:
        """One read from the transport through the filter; False when nothing came."""
        if self.readable is False:
            return False
        data = self._recv(4096)
        if self.readable is not None and len(data) < 4096:
            self.readable = False  # the kernel buffer is empty now
        if not data:
            return False
        self.bytes_in += len(data)
        self._pending += self.gate.received(data) if self.gate is not None else data
        return True

    def read(self, max_bytes: int) -> bytes:
        if not self._pending and not self._take():
            return b""
        out = bytes(self._pending[:max_bytes])
        del self._pending[:max_bytes]
        return out

    def write(self, buf: bytes) -> int:
        held = self.gate.outgoing(buf) if self.gate is not None else None
        if held is not None:  # a re-send kept off the wire: answered by a late reply, or waits for it
            self._pending[:] = held
            return len(buf)
        self._pending.clear()  # a new command: nothing read before answers it
        n = self._send(buf)
        if n > 0:
            self.bytes_out += n
        if n == len(buf) and self.gate is not None:
            # libosdp takes a short write as a failed send and never writes the rest: a partial
            # frame is not a command, and fed to the gate it would corrupt the next one
            self.gate.sent(buf)
        return n

    def drain(self) -> None:
        """Read what has arrived through the filter (which drops and counts strays)."""
        for _ in range(64):
            if not self._take():
                break

    def flush(self) -> None:
        """libosdp flushes stale input before each command: read it through the gate instead of
        discarding it in the kernel (strays are dropped and counted there; a late reply to a
        command being re-sent is kept for libosdp). `write` clears what a new command makes stale."""
        self.drain()

    def close(self) -> None:
        self._close()
        self._pending.clear()
        self.down_reason = "closed"


class SerialChannel(BusChannel):
    """A tty: raw mode, non-blocking; an unplugged adapter or a closed pty master reads EIO."""

    def __init__(self, port: str, baud: int = 115200, gate: ReplyGate | None = None) -> None:
        super().__init__(port, gate)
        self.baud = baud
        self._fd = -1

    def reopen(self) -> bool:
        self._close()
        self._pending.clear()
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

    def fileno(self) -> int:
        return self._fd

    def _recv(self, max_bytes: int) -> bytes:
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
        return data

    def _send(self, buf: bytes) -> int:
        if self._fd < 0:
            return 0
        try:
            return os.write(self._fd, buf)
        except BlockingIOError:
            return 0
        except OSError as exc:
            self._fail(exc)
            return 0

    def _close(self) -> None:
        if self._fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = -1


class TcpChannel(BusChannel):
    """An RS-485-to-Ethernet serial server in raw TCP mode."""

    def __init__(self, port: str, gate: ReplyGate | None = None) -> None:
        super().__init__(port, gate)
        host, _, p = port.removeprefix("tcp://").rpartition(":")
        self.addr = (host or "127.0.0.1", int(p))
        self._sock: socket.socket | None = None

    def reopen(self) -> bool:
        self._close()
        self._pending.clear()
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

    def fileno(self) -> int:
        return self._sock.fileno() if self._sock is not None else -1

    def _recv(self, max_bytes: int) -> bytes:
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
        return data

    def _send(self, buf: bytes) -> int:
        if self._sock is None:
            return 0
        try:
            return self._sock.send(buf)
        except BlockingIOError:
            return 0
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN,):
                self._fail(exc)
            return 0

    def _close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def open_channel(port: str, baud: int, gate: ReplyGate | None = None) -> BusChannel:
    """The channel for a bus's `port`; it is returned even when the first open fails (down)."""
    ch: BusChannel = TcpChannel(port, gate) if port.startswith("tcp://") else SerialChannel(port, baud, gate)
    ch.reopen()
    return ch
