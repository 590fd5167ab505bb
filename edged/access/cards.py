"""Turn what a reader sends into the (kind, value) the credential store is keyed by.

Chinese residential systems store a card as the decimal number of its Wiegand payload
without parity (W26: 24 bits = facility<<16 | number; W34: 32 bits = the card UID), so that is
what we store too. QR readers send ASCII; keypads send digits ended by '#'.
"""

from __future__ import annotations

PIN_END = {0x0D, ord("#")}
PIN_CLEAR = {0x7F, ord("*")}
MAX_PIN = 12


def wiegand_number(data: bytes, bits: int) -> str:
    """Decimal card number from a raw Wiegand frame of `bits` bits (MSB first)."""
    if bits <= 0 or bits > len(data) * 8:
        raise ValueError(f"bad wiegand length {bits} for {len(data)} bytes")
    raw = int.from_bytes(data, "big") >> (len(data) * 8 - bits)
    if bits in (26, 34):  # leading even parity and trailing odd parity
        raw = (raw >> 1) & ((1 << (bits - 2)) - 1)
    return str(raw)


def wiegand_frame(number: int, bits: int = 34) -> tuple[bytes, int]:
    """The inverse, for simulators: a W26/W34 frame with correct parity."""
    payload_bits = bits - 2
    if number >= 1 << payload_bits:
        raise ValueError(f"{number} does not fit W{bits}")
    half = payload_bits // 2
    hi, lo = number >> half, number & ((1 << half) - 1)
    even = bin(hi).count("1") % 2
    odd = 1 - bin(lo).count("1") % 2
    raw = (even << (bits - 1)) | (number << 1) | odd
    nbytes = (bits + 7) // 8
    return (raw << (nbytes * 8 - bits)).to_bytes(nbytes, "big"), bits


class PinBuffer:
    """Collects keypad digits per reader until '#'; '*' clears; stale digits expire."""

    def __init__(self, timeout_s: float = 10.0) -> None:
        self.timeout_s = timeout_s
        self._digits = ""
        self._last = 0.0

    def feed(self, data: bytes, now: float) -> str | None:
        if now - self._last > self.timeout_s:
            self._digits = ""
        self._last = now
        for b in data:
            if b in PIN_END:
                pin, self._digits = self._digits, ""
                return pin or None
            if b in PIN_CLEAR:
                self._digits = ""
            elif 0x30 <= b <= 0x39 and len(self._digits) < MAX_PIN:
                self._digits += chr(b)
            elif 0 <= b <= 9 and len(self._digits) < MAX_PIN:  # some keypads send raw digit values
                self._digits += str(b)
        return None
