"""One RS-485 bus: a libosdp ControlPanel refreshed from the caller's own 1–2 ms loop.

`poll(now)` refreshes the panel once, takes the events libosdp delivered during that refresh
(our callback replaces the binding's unbounded per-PD queues), and turns the library's status
bitmasks and notifications into reader transitions.

Secure channel (libosdp runs it with ENFORCE_SECURE): a reader is online only with SC up. The
channel's `ReplyGate` shows us each command libosdp sends and what the reader answered, so
when libosdp drops a reader we know why: right after the reader's cryptogram (osdp_CCRYPT,
which libosdp checks against the key) or its capabilities (no SC support) it is a *rejection*
— a key problem; a drop after a timeout, a NAK or a retried exchange on a loaded bus is not.
`sc_failed` needs `sc_attempts` rejections (with no secure session between them) over at
least `sc_grace_s`; a handshake in progress, or one that times out on a loaded box, never
raises it. libosdp parks a dropped reader for 300 s; we re-enable it soon (0.5 s, then backing
off to `offline_cycle_s`), but never touch one the library is still working on.
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
from edged.drivers.osdp_frames import ReplyGate
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
# The reader's own answers that libosdp judges the key (or SC support) on: osdp_CHLNG answered
# with osdp_CCRYPT (its cryptogram), osdp_CAP answered with osdp_PDCAP (SC capability).
REJECTABLE = frozenset({(0x76, 0x76), (0x62, 0x46)})
STARTUP_GRACE_S = 10.0  # a reader not online this long after the first refresh is reported offline
FIRST_RETRY_S = 0.5  # re-enable a dropped reader this soon, then back off to offline_cycle_s
STUCK_S = 30.0  # not online and no command sent to it this long: the library parked it unseen
HOUSEKEEPING_S = 0.1  # reader timers run this often (and at once when the library's state moves)
REOPEN_S = 2.0


@dataclass
class BusEvent:
    """What the bus tells the door engine. `kind`: card, keypad, input, tamper, online, offline,
    sc_failed, bus_down, bus_up. `t` is the perf_counter time the event came off the wire, `cpu`
    this thread's CPU time then (the bench tells time on the CPU from time waiting for one)."""

    kind: str
    address: int | None
    data: dict[str, Any] = field(default_factory=dict)
    t: float = 0.0
    cpu: float = 0.0


@dataclass
class _Reader:
    address: int
    index: int
    state: str = "starting"  # starting | online | offline | sc_failed
    since: float = 0.0
    parked: bool = False  # libosdp dropped it and waits for us (its own retry is 300 s away)
    retry_at: float = 0.0
    retries: int = 0
    pending_enable: bool = False
    last_tx: float = 0.0  # our last re-enable (the gate stamps the commands libosdp sends)
    rejections: int = 0  # handshakes rejected on the reader's own answer, in a row
    first_rejection: float = 0.0
    plain_since: float | None = None
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
        self._strays = m.STRAY_REPLIES.labels(bus=cfg.id)  # children bound once: called per frame
        self._resends_held = m.RESENDS_HELD.labels(bus=cfg.id)
        self._gate = ReplyGate(self._on_malformed, self._on_stray, self._on_held)
        self.channel: BusChannel = open_channel(cfg.port, cfg.baud, self._gate)
        self._now = time.monotonic()
        self.readers = {a: _Reader(a, i, since=self._now, last_tx=self._now) for i, a in enumerate(addresses)}
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
        self._status = -1
        self._sc = -1
        self._next_housekeeping = 0.0
        self.started: float | None = None  # the first refresh (the worker's loop may start late)
        self._kicked = False  # a command was submitted since the last refresh
        if not self.channel.up:
            _log.warning("bus channel not open", bus=self.id, port=cfg.port, reason=self.channel.down_reason)

    # --- wire taps (called inside refresh) ---------------------------------------------------
    def _on_stray(self) -> None:
        self._strays.inc()

    def _on_held(self) -> None:
        self._resends_held.inc()

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
            data = {"kind": cred[0], "value": cred[1]}
            self._inbox.append(BusEvent("card", r.address, data, t, time.thread_time()))
        elif kind == osdp.Event.KeyPress:
            if self._trusted(r):
                keys = {"data": bytes(ev["data"])}
                self._inbox.append(BusEvent("keypad", r.address, keys, t, time.thread_time()))
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
        elif (
            kind == osdp.Event.Notification
            and ev["type"] == osdp.EventNotification.PeripheralDeviceStatus
            and not ev["arg0"]
            and not r.pending_enable  # dropped by the library, not disabled by us
        ):
            self._dropped(r)

    def _dropped(self, r: _Reader) -> None:
        """libosdp took the reader offline (and will not retry for 300 s)."""
        now = self._now
        r.parked = True
        if self.cfg.secure and self._gate.exchange(r.address) in REJECTABLE:
            if r.rejections == 0:
                r.first_rejection = now
            r.rejections += 1
        if r.rejections and r.state != "sc_failed":
            r.retry_at = now + min(1.0, self.osdp_cfg.sc_grace_s / 2)  # confirm (or clear) it soon
        else:
            r.retry_at = now + min(self.osdp_cfg.offline_cycle_s, FIRST_RETRY_S * 2**r.retries)
        self._next_housekeeping = 0.0

    def _trusted(self, r: _Reader) -> bool:
        return r.state == "online"

    # --- loop ----------------------------------------------------------------------------------
    def poll(self, now: float) -> list[BusEvent]:
        """One refresh; returns what happened. Call every 1–2 ms, and at once while `ready`."""
        self._now = self._gate.now = now
        if self.started is None:
            self.started = now
        if not self.channel.up:
            self._channel_down(now)
        elif self._down_reported:
            self._down_reported = False
            m.BUS_UP.labels(bus=self.id).set(1)
            self._inbox.append(BusEvent("bus_up", None, {"port": self.cfg.port}, time.perf_counter()))
            for r in self.readers.values():  # skip libosdp's 300 s offline hold
                r.retry_at, r.retries = now, 0
        self._kicked = False
        self._ctx.refresh()
        if self.channel.up:
            self.channel.drain()  # what else came (strays: counted and dropped there)
        status, sc = self._ctx.status(), self._ctx.sc_status()
        if status != self._status or sc != self._sc or now >= self._next_housekeeping:
            self._status, self._sc = status, sc
            self._next_housekeeping = now + HOUSEKEEPING_S
            for r in self.readers.values():
                self._reader_tick(r, now)
        out = self._inbox
        if out:
            self._inbox = []
        return out

    def fileno(self) -> int:
        """The channel's descriptor (-1 while down): the loop polls it to set `channel.readable`."""
        return self.channel.fileno()

    @property
    def ready(self) -> bool:
        """Refresh again without waiting: a reply is in hand for libosdp, or a command waits to
        be sent."""
        return self.channel.pending or self._kicked

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
            self._gate.reset()
        if now - self._last_reopen >= REOPEN_S:
            self._last_reopen = now
            self.channel.reopen()

    def _reader_tick(self, r: _Reader, now: float) -> None:
        bit = 1 << r.index
        online, sc = bool(self._status & bit), bool(self._sc & bit)
        if r.pending_enable:
            r.pending_enable = False
            self._ctx.enable_pd(r.index)
            return
        if online and (sc or not self.cfg.secure):
            r.plain_since, r.parked, r.retries, r.rejections = None, False, 0, 0
            if r.state != "online":
                self._set(r, "online", {"secure": sc}, time.perf_counter())
            return
        grace = self.osdp_cfg.sc_grace_s
        if online:  # answering in plaintext (install mode): refuse, never fall back silently
            r.plain_since = r.plain_since if r.plain_since is not None else now
            if now - r.plain_since >= grace and r.state != "sc_failed":
                self._set(r, "sc_failed", {"reason": "reader has no secure channel"}, time.perf_counter())
            return
        if r.state == "online":  # the library dropped it; the engine reports it if it stays away
            self._set(r, "offline", {}, time.perf_counter())
        if (
            r.rejections >= self.osdp_cfg.sc_attempts
            and now - r.first_rejection >= grace
            and r.state != "sc_failed"
        ):
            reason = "secure channel handshake rejected (wrong key, or no secure channel support)"
            self._set(r, "sc_failed", {"reason": reason, "attempts": r.rejections}, time.perf_counter())
        elif r.state == "starting" and self.started is not None and now - self.started >= STARTUP_GRACE_S:
            self._set(r, "offline", {"initial": True}, time.perf_counter())
        if not r.parked and now - max(r.last_tx, self._gate.sent_at.get(r.address, r.last_tx)) >= STUCK_S:
            r.parked, r.retry_at = True, now  # parked without a word from the library
        if r.parked and self.channel.up and now >= r.retry_at:
            self._retry(r, now)

    def _retry(self, r: _Reader, now: float) -> None:
        r.parked, r.last_tx = False, now
        r.retries += 1
        r.retry_at = now + self.osdp_cfg.offline_cycle_s
        if self._ctx.disable_pd(r.index):
            r.pending_enable = True  # enable on the next pass, after libosdp saw the disable
            self._next_housekeeping = 0.0
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
            self._kicked = True  # sent on the next pass, not a loop period later
        return ok

    def online_count(self) -> int:
        return sum(1 for r in self.readers.values() if r.state == "online")

    def close(self) -> None:
        self.channel.close()
