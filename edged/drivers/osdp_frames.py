"""A passive OSDP frame checker on the bytes the control panel reads and writes.

libosdp drops bad packets silently; we parse the same byte stream to count malformed
frames from devices (bad CRC/checksum, bad length, garbage between frames) and to know when
each address last answered (a reader that answers but never gets a secure channel is a key
problem, not a silent reader). Frame: 0x53 SOM, addr (bit 7 set on replies), length (LE,
whole packet), ctrl (bit 2: CRC-16 instead of checksum), ..., CRC-16/AUG-CCITT (LE).
"""

from __future__ import annotations

from collections.abc import Callable

SOM = 0x53
MARK = 0xFF
MAX_PACKET = 1440


def _table() -> list[int]:
    out = []
    for i in range(256):
        crc = i << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
        out.append(crc)
    return out


_TABLE = _table()


def crc16(data: bytes | bytearray | memoryview) -> int:
    """CRC-16/AUG-CCITT (poly 0x1021, init 0x1D0F), as OSDP uses."""
    crc = 0x1D0F
    for b in data:
        crc = ((crc << 8) & 0xFFFF) ^ _TABLE[(crc >> 8) ^ b]
    return crc


def checksum(data: bytes | bytearray | memoryview) -> int:
    return (-sum(data)) & 0xFF


class FrameChecker:
    """Feed it a byte stream in any chunks; calls `on_frame(addr, code)` for good frames and
    `on_malformed(reason)` for bad ones."""

    def __init__(
        self,
        on_frame: Callable[[int, int], None],
        on_malformed: Callable[[str], None],
    ) -> None:
        self._buf = bytearray()
        self._on_frame = on_frame
        self._on_malformed = on_malformed

    def reset(self) -> None:
        self._buf.clear()

    def feed(self, data: bytes) -> None:
        buf = self._buf
        buf.extend(data)
        while buf:
            start = buf.find(SOM)
            if start < 0:
                if buf.strip(bytes([MARK])):
                    self._on_malformed("garbage")
                buf.clear()
                return
            if start and buf[:start].strip(bytes([MARK])):
                self._on_malformed("garbage")
            del buf[:start]
            if len(buf) < 5:
                return
            length = buf[2] | (buf[3] << 8)
            use_crc = bool(buf[4] & 0x04)
            if length < (8 if use_crc else 7) or length > MAX_PACKET:
                self._on_malformed("length")
                del buf[:1]
                continue
            if len(buf) < length:
                return
            pkt = bytes(buf[:length])
            ok = crc16(pkt[:-2]) == pkt[-2] | pkt[-1] << 8 if use_crc else checksum(pkt[:-1]) == pkt[-1]
            if not ok:
                self._on_malformed("crc")
                del buf[:length]  # half duplex: silence follows a reply, so the length is a safe skip
                continue
            del buf[:length]
            has_scb = bool(pkt[4] & 0x08)
            code_at = 5 + (pkt[5] if has_scb and length > 5 else 0)
            self._on_frame(pkt[1], pkt[code_at] if code_at < length else -1)


def build_frame(addr: int, code: int, data: bytes = b"", seq: int = 0) -> bytes:
    """A plain (no secure block) CRC frame; simulators use it to inject replies."""
    length = 5 + 1 + len(data) + 2
    head = bytes([SOM, addr & 0xFF, length & 0xFF, length >> 8, 0x04 | (seq & 0x03), code]) + data
    c = crc16(head)
    return head + bytes([c & 0xFF, c >> 8])
