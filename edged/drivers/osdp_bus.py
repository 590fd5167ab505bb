"""One RS-485 bus: a libosdp ControlPanel refreshed from the caller's own 1–2 ms loop.

`poll(now)` refreshes the panel once, takes the events libosdp delivered during that refresh
(our callback replaces the binding's unbounded per-PD queues), and turns status bitmasks into
reader transitions. The secure channel is never given up silently: a reader that answers but
has no secure channel is `sc_failed`, and its card reads are dropped. libosdp parks an offline
reader for 300 s, so offline readers are disabled and re-enabled every `offline_cycle_s`.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import osdp
import structlog

from edged.access.cards import wiegand_number
from edged.config.doors import BusConfig, OsdpConfig
from edged.drivers import osdp_metrics as m
from edged.drivers.osdp_channel import BusChannel, open_channel
from edged.drivers.osdp_frames import FrameChecker
from edged.drivers.osdp_keys import KeyRing

_log = structlog.get_logger("edged.doors.osdp")

OUTPUT_CODES = {"pulse": 5, "on": 2, "off": 1}  # temporary on (timed) / permanent on / off + abort timer
LOG_LEVELS = {
    "debug": osdp.LogLevel.Debug,
    "info": osdp.LogLevel.Info,
    "warning": osdp.LogLevel.Warning,
    "error": osdp.LogLevel.Error,
    "critical": osdp.LogLevel.Critical,
}
STARTUP_GRACE_S = 10.0  # a reader not online this long after start is reported offline
PLAIN_GRACE_S = 2.0  # online without a secure channel this long: sc_failed
REPLY_RECENT_S = 1.5  # went offline this soon after answering: a key problem, not silence
REOPEN_S = 2.0


@dataclass
class BusEvent:
    """What the bus tells the door engine. `kind`: card, keypad, input, tamper, online, offline,
    sc_failed, bus_down, bus_up. `t` is the perf_counter time the event came off the wire."""

    kind: str
    address: int | None
    data: dict[str, Any] = field(default_factory=dict)
    t: float = 0.0


@dataclass
class _Reader:
    address: int
    index: int
    state: str = "starting"  # starting | online | offline | sc_failed
    since: float = 0.0
    last_cycle: float = 0.0
    pending_enable: bool = False
    cycles: int = 0
    plain_since: float | None = None
    last_reply: float = -1e9
    outputs: deque[float] = field(default_factory=deque)


def card_credential(fmt: int, bits: int, data: bytes) -> tuple[str, str]:
    """(kind, value) of a card read: QR readers send printable text as raw unspecified data
    (libosdp 3.2.9 drops the ASCII format); everything else is a Wiegand card number."""
    if (
        fmt != osdp.CardFormat.Wiegand
        and bits == len(data) * 8
        and data
        and all(0x20 <= b < 0x7F for b in data)
    ):
        return "qr", data.decode("ascii")
    return "card", wiegand_number(data, bits)


class OsdpBus:
    def __init__(
        self, cfg: BusConfig, addresses: list[int], keys: KeyRing | None, osdp_cfg: OsdpConfig
    ) -> None:
        if len(addresses) > min(cfg.max_readers, 32):
            raise ValueError(f"bus {cfg.id}: {len(addresses)} readers, at most {min(cfg.max_readers, 32)}")
        self.cfg, self.osdp_cfg = cfg, osdp_cfg
        self.id = cfg.id
        self._checker = FrameChecker(self._on_frame, self._on_malformed)
        self.channel: BusChannel = open_channel(cfg.port, cfg.baud, self._checker.feed)
        self._now = time.monotonic()
        self.readers = {a: _Reader(a, i, since=self._now) for i, a in enumerate(addresses)}
        self._by_index = {r.index: r for r in self.readers.values()}
        flags = [osdp.LibFlag.EnableNotification]
        if cfg.secure:
            flags.append(osdp.LibFlag.InstallMode if cfg.install_mode else osdp.LibFlag.EnforceSecure)
        infos = [
            osdp.PDInfo(
                a,
                self.channel,
                scbk=keys.scbk(cfg.id, a) if (cfg.secure and keys is not None) else None,
                name=f"{cfg.id}-{a}",
                flags=list(flags),
            )
            for a in addresses
        ]
        self._cp = osdp.ControlPanel(infos, log_level=LOG_LEVELS[osdp_cfg.lib_log_level])
        self._ctx = self._cp.ctx
        self._ctx.set_event_callback(self._on_event)  # bypass the binding's unbounded queues
        self._inbox: list[BusEvent] = []
        self.rtt_samples: deque[float] = deque(maxlen=20000)  # for `edged bench doors`
        self._down_reported = False
        self._last_reopen = self._now
        self._status = 0
        self._sc = 0
        self.started = self._now
        if not self.channel.up:
            _log.warning("bus channel not open", bus=self.id, port=cfg.port, reason=self.channel.down_reason)

    # --- wire taps (called inside refresh) ---------------------------------------------------
    def _on_frame(self, addr: int, code: int) -> None:
        if addr & 0x80:
            r = self.readers.get(addr & 0x7F)
            if r is not None:
                r.last_reply = self._now

    def _on_malformed(self, reason: str) -> None:
        m.MALFORMED.labels(bus=self.id, reason=reason).inc()

    def _on_event(self, index: int, event: dict[str, Any]) -> int:
        t = time.perf_counter()
        r = self._by_index.get(index)
        if r is None or not isinstance(event, dict):
            return 0
        try:
            self._translate(r, event, t)
        except (KeyError, TypeError, ValueError) as exc:
            m.MALFORMED.labels(bus=self.id, reason="event").inc()
            _log.warning("bad event from reader", bus=self.id, address=r.address, error=str(exc))
        return 0

    def _translate(self, r: _Reader, ev: dict[str, Any], t: float) -> None:
        kind = ev["event"]
        if kind == osdp.Event.CardRead:
            if not self._trusted(r):
                m.PLAINTEXT_DROPPED.labels(bus=self.id).inc()
                return
            cred = card_credential(int(ev.get("format", 0)), int(ev["length"]), bytes(ev["data"]))
            self._inbox.append(BusEvent("card", r.address, {"kind": cred[0], "value": cred[1]}, t))
        elif kind == osdp.Event.KeyPress:
            if self._trusted(r):
                self._inbox.append(BusEvent("keypad", r.address, {"data": bytes(ev["data"])}, t))
        elif kind == osdp.Event.Status:
            report = bytes(ev.get("report") or b"")
            if ev["type"] == osdp.StatusReportType.Input:
                self._inbox.append(BusEvent("input", r.address, {"levels": list(report)}, t))
            elif ev["type"] == osdp.StatusReportType.Local and report:
                self._inbox.append(BusEvent("tamper", r.address, {"active": bool(report[0])}, t))
        elif kind == osdp.Event.Notification and ev["type"] == osdp.EventNotification.Command:
            if ev["arg0"] == osdp.Command.Output and r.outputs:
                started = r.outputs.popleft()
                if ev["arg1"]:
                    m.COMMAND_RTT.labels(bus=self.id).observe(t - started)
                    self.rtt_samples.append(t - started)
        elif kind == osdp.Event.Notification and ev["type"] == osdp.EventNotification.SecureChannelStatus:
            failed = (
                not ev["arg0"] and self.cfg.secure and not self.cfg.install_mode
            )  # install mode restarts SC
            if failed and self._now - r.last_reply < REPLY_RECENT_S:
                self._set(r, "sc_failed", {"reason": "secure channel failed while the reader answers"}, t)

    def _trusted(self, r: _Reader) -> bool:
        return r.state == "online"

    # --- loop ----------------------------------------------------------------------------------
    def poll(self, now: float) -> list[BusEvent]:
        """One refresh; returns what happened. Call every 1–2 ms."""
        self._now = now
        if not self.channel.up:
            self._channel_down(now)
        elif self._down_reported:
            self._down_reported = False
            m.BUS_UP.labels(bus=self.id).set(1)
            self._inbox.append(BusEvent("bus_up", None, {"port": self.cfg.port}, time.perf_counter()))
            for r in self.readers.values():  # skip libosdp's 300 s offline hold
                r.last_cycle = -1e9
        self._ctx.refresh()
        self._status, self._sc = self._ctx.status(), self._ctx.sc_status()
        for r in self.readers.values():
            self._reader_tick(r, now)
        out, self._inbox = self._inbox, []
        return out

    def _channel_down(self, now: float) -> None:
        if not self._down_reported:
            self._down_reported = True
            m.BUS_UP.labels(bus=self.id).set(0)
            _log.error("bus channel lost", bus=self.id, port=self.cfg.port, reason=self.channel.down_reason)
            self._inbox.append(
                BusEvent(
                    "bus_down",
                    None,
                    {"port": self.cfg.port, "reason": self.channel.down_reason},
                    time.perf_counter(),
                )
            )
            self._checker.reset()
        if now - self._last_reopen >= REOPEN_S:
            self._last_reopen = now
            self.channel.reopen()

    def _reader_tick(self, r: _Reader, now: float) -> None:
        bit = 1 << r.index
        online, sc = bool(self._status & bit), bool(self._sc & bit)
        if r.pending_enable:
            r.pending_enable = False
            self._ctx.enable_pd(r.index)
        usable = online and (sc or not self.cfg.secure)
        if usable:
            r.plain_since = None
            if r.state != "online":
                self._set(r, "online", {"secure": sc}, time.perf_counter())
            return
        if online and self.cfg.secure:  # answering in plaintext: refuse, never fall back silently
            r.plain_since = r.plain_since if r.plain_since is not None else now
            if now - r.plain_since >= PLAIN_GRACE_S and r.state != "sc_failed":
                self._set(r, "sc_failed", {"reason": "reader has no secure channel"}, time.perf_counter())
            return
        if r.state == "online":
            recent = now - r.last_reply < REPLY_RECENT_S and self.cfg.secure
            self._set(r, "sc_failed" if recent else "offline", {}, time.perf_counter())
        elif r.state == "starting" and now - self.started >= STARTUP_GRACE_S:
            self._set(r, "offline", {"initial": True}, time.perf_counter())
        cycle = self.osdp_cfg.offline_cycle_s
        if r.state == "starting":  # never up yet: retry sooner (2, 4, 8 s ...) than a lost reader
            cycle = min(cycle, 2.0 * 2**r.cycles)
        if r.state != "online" and self.channel.up and now - max(r.last_cycle, self.started) >= cycle:
            r.last_cycle = now
            r.cycles += 1
            if self._ctx.disable_pd(r.index):
                r.pending_enable = True  # enable on the next pass, after libosdp saw the disable
            else:
                self._ctx.enable_pd(r.index)

    def _set(self, r: _Reader, state: str, data: dict[str, Any], t: float) -> None:
        if state == r.state:
            return
        previous, r.state, r.since = r.state, state, self._now
        if state != "online":
            r.outputs.clear()
            if previous == "online":
                m.OFFLINE_TRANSITIONS.labels(bus=self.id).inc()
        if state == "sc_failed":
            m.SC_FAILED.labels(bus=self.id).inc()
        if state in ("offline", "sc_failed") and previous != "starting":
            r.last_cycle = self._now  # first re-try one cycle from now
        _log.info("reader state", bus=self.id, address=r.address, state=state, previous=previous)
        self._inbox.append(BusEvent(state, r.address, {**data, "previous": previous}, t))

    # --- commands ------------------------------------------------------------------------------
    def output(self, address: int, output_no: int, action: str, seconds: float = 0.0) -> bool:
        """Drive an output; `pulse` is a timed unlock that the reader ends by itself."""
        r = self.readers[address]
        if r.state != "online":
            return False
        cmd = {
            "command": osdp.Command.Output,
            "output_no": output_no,
            "control_code": OUTPUT_CODES[action],
            "timer_count": min(0xFFFF, round(seconds * 10)) if action == "pulse" else 0,
        }
        ok = bool(self._ctx.submit_command(r.index, cmd))
        if ok:
            r.outputs.append(time.perf_counter())
        return ok

    def online_count(self) -> int:
        return sum(1 for r in self.readers.values() if r.state == "online")

    def close(self) -> None:
        self.channel.close()
