"""OSDP frames on the bytes between the control panel and the readers.

libosdp drops bad packets silently and takes any reply that arrives while it waits for one
reader as that reader's answer: on a loaded bus a late (or retried, so duplicated) reply from
reader 5 lands in reader 6's turn, and libosdp throws reader 6 offline ("Invalid pd
address"). So the channel frames what it reads: `ReplyGate` passes to libosdp only the reply
to the command on the wire (same address, same sequence number) and drops the rest, counted
— malformed frames (bad CRC/checksum, bad length, garbage between frames) and stray replies.
It also tells the bus, per address, which command went out and whether it was answered (the
secure-channel handshake is judged from that). Frame: optional 0xFF mark, 0x53 SOM, addr (bit
7 set on replies), length (LE, whole packet without the mark), ctrl (bits 0-1 sequence, bit 2:
CRC-16 instead of checksum, bit 3: security block), [security block], code, data, CRC/checksum.
"""

from __future__ import annotations

import binascii
from collections.abc import Callable
from typing import NamedTuple

SOM = 0x53
MARK = 0xFF
MAX_PACKET = 1440
BROADCAST = 0x7F
_MARK_BYTE = bytes([MARK])


def crc16(data: bytes | bytearray | memoryview) -> int:
    """CRC-16/AUG-CCITT (poly 0x1021, init 0x1D0F), as OSDP uses: binascii's CRC-CCITT in C
    (every reply on every bus is checked, ~4,500 a second on a full site)."""
    return binascii.crc_hqx(data, 0x1D0F)


def checksum(data: bytes | bytearray | memoryview) -> int:
    return (-sum(data)) & 0xFF


class Frame(NamedTuple):  # a tuple: every frame on every bus makes one (~9,000 a second)
    addr: int  # the address byte as sent: bit 7 set on replies
    seq: int
    code: int  # command or reply code (-1 if the frame has none)
    raw: bytes  # as on the wire, with its mark byte if it had one

    @property
    def address(self) -> int:
        return self.addr & 0x7F


class FrameChecker:
    """Feed it a byte stream in any chunks; `feed` returns the complete well-formed frames and
    calls `on_malformed(reason)` for bad ones (reason: crc, length, garbage)."""

    def __init__(self, on_malformed: Callable[[str], None], verify: bool = True) -> None:
        self._buf = bytearray()
        self._on_malformed = on_malformed
        self._verify = verify  # False for frames we built ourselves (libosdp's own commands)

    def reset(self) -> None:
        self._buf.clear()

    def feed(self, data: bytes) -> list[Frame]:
        buf = self._buf
        if not buf and (i := whole_frame_at(data)) >= 0:  # the usual case: a read is one frame
            f = self._frame(data[i:] if i or type(data) is not bytes else data, i > 0)
            return [f] if f is not None else []
        buf.extend(data)
        out: list[Frame] = []
        while buf:
            start = buf.find(SOM)
            if start < 0:
                if buf.strip(_MARK_BYTE):
                    self._on_malformed("garbage")
                marked = buf.endswith(_MARK_BYTE)
                buf.clear()
                if marked:  # a mark may be the first byte of a frame still on its way
                    buf.append(MARK)
                break
            if start and buf[:start].strip(_MARK_BYTE):
                self._on_malformed("garbage")
            marked = start > 0 and buf[start - 1] == MARK
            del buf[:start]
            if len(buf) < 5:
                if marked:
                    buf[0:0] = _MARK_BYTE  # keep the mark with its frame
                break
            length = buf[2] | (buf[3] << 8)
            if length < (8 if buf[4] & 0x04 else 7) or length > MAX_PACKET:
                self._on_malformed("length")
                del buf[:1]
                continue
            if len(buf) < length:
                if marked:
                    buf[0:0] = _MARK_BYTE
                break
            pkt = bytes(buf[:length])
            del buf[:length]  # half duplex: silence follows a frame, so the length is a safe skip
            f = self._frame(pkt, marked)
            if f is not None:
                out.append(f)
        return out

    def _frame(self, pkt: bytes, marked: bool) -> Frame | None:
        """The frame in `pkt` (one whole packet without its mark), or None if its check fails."""
        length = len(pkt)
        use_crc = bool(pkt[4] & 0x04)
        if length < (8 if use_crc else 7) or length > MAX_PACKET:
            self._on_malformed("length")
            return None
        if self._verify and not (
            crc16(pkt[:-2]) == pkt[-2] | pkt[-1] << 8 if use_crc else checksum(pkt[:-1]) == pkt[-1]
        ):
            self._on_malformed("crc")
            return None
        end = length - (2 if use_crc else 1)
        code_at = 5 + (pkt[5] if pkt[4] & 0x08 and length > 5 else 0)
        return Frame(
            addr=pkt[1],
            seq=pkt[4] & 0x03,
            code=pkt[code_at] if code_at < end else -1,
            raw=(_MARK_BYTE + pkt) if marked else pkt,
        )


def whole_frame_at(data: bytes | bytearray) -> int:
    """Where the frame starts when `data` is exactly one frame after its mark bytes (its length
    field spans the rest), else -1."""
    n = len(data)
    i = 0
    while i < n and data[i] == MARK:
        i += 1
    return i if n - i >= 7 and data[i] == SOM and (data[i + 2] | data[i + 3] << 8) == n - i else -1


def peek(data: bytes, whole: bool = False) -> tuple[int, int, int] | None:
    """(address, sequence, code) of the frame at the start of `data` (a command's address: bit 7
    clear), or None; `whole`: only if `data` is exactly that one command frame."""
    n = len(data)
    if whole:
        i = whole_frame_at(data)
        if i < 0 or data[i + 1] & 0x80:
            return None
    else:
        i = 0
        while i < n and data[i] == MARK:
            i += 1
        if n - i < 6 or data[i] != SOM:
            return None
    ctrl = data[i + 4]
    code_at = i + 5 + (data[i + 5] if ctrl & 0x08 else 0)
    return (data[i + 1] & 0x7F, ctrl & 0x03, data[code_at]) if code_at < n else None


class ReplyGate:
    """Sits in the channel under libosdp. `outgoing(bytes)` may hold a write back, `sent(bytes)`
    sees what went on the wire, `received(bytes)` returns only what libosdp should see: the
    reply to the command it waits on (same address, same sequence number).

    libosdp 3.2.9, after 200 ms without a reply, gives the wire to the next reader and re-sends
    300 ms later. The late reply then lands in another reader's turn (libosdp would throw that
    one offline), and the re-send makes the reader see its sequence number twice, which breaks
    the secure session (it NAKs, libosdp drops it). So a late reply is kept for its reader, and
    libosdp's re-send of that command is answered with it instead of going out; without one,
    the first re-send is held back once (the reply is far more often late than lost on a
    loaded box or a serial server) and later ones go out, so a lost command is still retried.

    What the bus reads back, per address: `exchange(address)` (the last command's code and the
    reply's, -1 while unanswered) and `sent_at[address]` (`now` when that command went out; the
    owner sets `now` before each refresh). Callbacks only for what is rare: `on_malformed(reason)`,
    `on_stray()` for a well-formed frame not passed on (late — kept for a re-send —, duplicated,
    or an echo of a command), `on_held()` for each re-send kept off the wire. Nothing calls back
    per exchange: this runs ~9,000 times a second on a full site.
    """

    def __init__(
        self,
        on_malformed: Callable[[str], None],
        on_stray: Callable[[], None] = lambda: None,
        on_held: Callable[[], None] = lambda: None,
    ) -> None:
        self._rx = FrameChecker(on_malformed)
        self._on_stray = on_stray
        self._on_held = on_held
        self.now = 0.0
        self.sent_at: dict[int, float] = {}
        self._out: dict[int, tuple[int, int]] = {}  # address -> (sequence, code) of its last command
        self._replies: dict[int, int] = {}  # address -> code of the reply libosdp got (-1: a late one)
        self._late: dict[int, Frame] = {}  # replies that came after libosdp moved on
        self._held: set[int] = set()  # addresses whose re-send was held back once
        self._current: int | None = None  # the address libosdp waits on

    def reset(self) -> None:
        self._rx.reset()
        self._out.clear()
        self._replies.clear()
        self._late.clear()
        self._held.clear()
        self._current = None

    def exchange(self, address: int) -> tuple[int, int]:
        """(last command code, its reply code); -1 for none."""
        out = self._out.get(address)
        return (out[1] if out else -1, self._replies.get(address, -1))

    def outgoing(self, data: bytes) -> bytes | None:
        """None: send this write. Bytes: do not send it; they answer it (b"": wait on)."""
        head = peek(data)
        if head is None or self._out.get(head[0]) != head[1:]:
            return None  # a new command
        addr = head[0]
        late = self._late.pop(addr, None)
        if late is None and (addr in self._held or addr in self._replies):
            return None
        self._held.add(addr)
        self._current = addr
        self._on_held()
        if late is None:
            return b""
        self._replies[addr] = late.code  # libosdp gets the reader's answer now: judge on it
        return late.raw

    def sent(self, data: bytes) -> None:
        """`data` went on the wire whole: libosdp writes one frame per write (the channel does
        not report a short write here; libosdp takes it as failed and never sends the rest)."""
        head = peek(data, whole=True)
        if head is not None:
            self._command(*head)

    def _command(self, addr: int, seq: int, code: int) -> None:
        key = (seq, code)
        if self._out.get(addr) != key:
            self._out[addr] = key
            self.sent_at[addr] = self.now
            self._replies.pop(addr, None)
            self._held.discard(addr)
            self._late.pop(addr, None)
        self._current = addr

    def received(self, data: bytes) -> bytes:
        out = b""
        for f in self._rx.feed(data):
            addr = f.addr & 0x7F
            out_cmd = self._out.get(addr)
            if f.addr & 0x80 and out_cmd is not None and out_cmd[0] == f.seq and addr not in self._replies:
                if addr == self._current:
                    self._replies[addr] = f.code  # a second copy of this reply is a stray
                    out += f.raw
                    continue
                self._replies[addr] = -1  # answered, but not to libosdp (yet): judged on nothing
                self._late[addr] = f
            self._on_stray()
        return out


def build_frame(addr: int, code: int, data: bytes = b"", seq: int = 0) -> bytes:
    """A plain (no security block) CRC frame; simulators use it to inject replies."""
    length = 5 + 1 + len(data) + 2
    head = bytes([SOM, addr & 0xFF, length & 0xFF, length >> 8, 0x04 | (seq & 0x03), code]) + data
    c = crc16(head)
    return head + bytes([c & 0xFF, c >> 8])
