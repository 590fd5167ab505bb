"""Pure parts: state machine, credential store and sync, decisions, stranger rules, cards, frames, config."""

from __future__ import annotations

import io
import time
from pathlib import Path

import pytest
from pydantic import ValidationError

from edged.access.cards import PinBuffer, wiegand_frame, wiegand_number
from edged.access.credentials import CredentialError, CredentialStore
from edged.access.csvio import export_csv, import_csv
from edged.access.decisions import decide
from edged.access.door import DoorState, Emit, Output
from edged.access.stranger import StrangerRules
from edged.config.doors import DoorConfig, DoorsConfig, StrangerConfig
from edged.drivers.osdp_frames import FrameChecker, ReplyGate, build_frame, crc16


def door(**kw: object) -> DoorState:
    return DoorState(
        DoorConfig.model_validate(
            {"id": "d1", "building": "b1", "unit": "u1", "reader": {"bus": "x", "address": 1}, **kw}
        )
    )


def test_forced_and_authorized_openings() -> None:
    d = door()
    assert d.contact(False, 0.0) == []  # first report learns
    assert d.grant(1.0) == [Output("pulse", 5.0)]
    assert d.contact(True, 2.0) == []
    assert d.contact(False, 3.0) == [Output("off")]  # relock on close
    forced = d.contact(True, 10.0)
    assert isinstance(forced[0], Emit) and forced[0].type == "door_forced" and forced[0].priority == 0


def test_held_open_stages_use_the_monotonic_timers() -> None:
    d = door(held_open_prealarm_s=20, held_open_s=30)
    d.contact(False, 0.0)
    d.grant(0.0)
    d.contact(True, 1.0)
    assert d.tick(20.0) == []
    assert [a.data["stage"] for a in d.tick(21.0) if isinstance(a, Emit)] == ["pre_alarm"]
    assert [a.data["stage"] for a in d.tick(31.5) if isinstance(a, Emit)] == ["alarm"]
    assert d.tick(40.0) == []
    cleared = [a for a in d.contact(False, 41.0) if isinstance(a, Emit)]
    assert cleared[0].data["stage"] == "cleared"


def test_modes_lockdown_and_fire() -> None:
    d = door(evacuation=True)
    assert Output("off") in d.set_override("locked_down", 0.0)
    assert d.grant(1.0) == [Output("pulse", 5.0)] and d.mode == "locked_down"  # decision layer denies
    assert d.rex(True, 2.0) == [Output("pulse", 5.0)]  # egress always
    assert Output("on") in d.set_fire(True, 3.0) and d.mode == "always_open"
    assert d.set_fire(False, 4.0)[-1] == Output("off") and d.mode == "locked_down"


def test_store_sync_full_delta_and_stale(tmp_path: Path) -> None:
    s = CredentialStore(tmp_path / "c.sqlite")
    assert (
        s.apply_sync(
            True,
            5,
            [
                {"kind": "card", "value": "1", "door_group": "b1"},
                {"kind": "card", "value": "2", "door_group": "b1"},
            ],
        )
        == 5
    )
    assert (
        s.apply_sync(
            False,
            6,
            [
                {"kind": "card", "value": "1", "door_group": "b1", "deleted": True},
                {"kind": "pin", "value": "1234", "door_group": "b1"},
            ],
        )
        == 6
    )
    assert s.apply_sync(False, 6, [{"kind": "card", "value": "9", "door_group": "b1"}]) == 6  # stale: ignored
    assert {(c.kind, c.door_group) for c in s.all()} == {("card", "b1"), ("pin", "b1")}
    assert not s.lookup("card", "9") and not s.lookup("card", "1")
    assert s.lookup("pin", "1234")[0].value.startswith("sha256:")  # never in clear
    with pytest.raises(CredentialError):
        s.apply_sync(True, 7, [{"kind": "face", "value": "x"}])
    assert s.version == 6 and s.count() == 2  # a bad sync applies nothing
    s.close()
    assert CredentialStore(tmp_path / "c.sqlite").version == 6  # on disk


def test_decisions(tmp_path: Path) -> None:
    s = CredentialStore(tmp_path / "c.sqlite")
    now = time.time()
    s.upsert(
        [
            {"kind": "card", "value": "1", "door_group": "b1/u1"},
            {"kind": "card", "value": "2", "door_group": "b2"},
            {"kind": "card", "value": "3", "door_group": "b1", "valid_until": now - 1},
            {
                "kind": "qr",
                "value": "V",
                "door_group": "b1",
                "visitor": 1,
                "valid_from": now + 60,
                "valid_until": now + 120,
            },
        ]
    )
    groups = {"*", "b1", "b1/u1"}
    assert decide(s, "card", "1", groups, now).granted
    assert decide(s, "card", "1", groups, now, locked_down=True).reason == "locked_down"
    assert decide(s, "card", "2", groups, now).reason == "not_permitted"
    assert decide(s, "card", "3", groups, now).reason == "expired"
    assert decide(s, "qr", "V", groups, now).reason == "visitor_outside_window"
    assert decide(s, "card", "404", groups, now).reason == "unknown"


def test_csv_roundtrip_and_bad_rows(tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    src.write_text("kind,value,door_group,holder\ncard,42,b1,A\nqr,Q1,*,B\n")
    s = CredentialStore(tmp_path / "c.sqlite")
    assert import_csv(s, src) == (2, [])
    out = io.StringIO()
    assert export_csv(s, out) == 2 and "card,42,b1,A" in out.getvalue()
    bad = tmp_path / "bad.csv"
    bad.write_text("kind,value\ncard,1\nretina,2\n")
    n, errors = import_csv(s, bad)
    assert n == 0 and errors and ":3:" in errors[0] and s.count() == 2


def test_stranger_rules_window_and_cooldown() -> None:
    r = StrangerRules(StrangerConfig(denied_threshold=3, window_s=60, scope="door", cooldown_s=60))
    assert r.denied("d", None, "unknown", 0) == [] and r.denied("d", None, "unknown", 70) == []
    assert r.denied("d", None, "unknown", 80) == []
    assert r.denied("d", None, "unknown", 90)[0].rule == "unknown_at_door"
    assert r.denied("d", None, "expired", 91) == []  # only unknown credentials count


def test_cards_and_pins() -> None:
    for bits in (26, 34):
        data, n = wiegand_frame(123456, bits)
        assert wiegand_number(data, n) == "123456"
    p = PinBuffer()
    assert p.feed(b"12", 0.0) is None and p.feed(b"34#", 1.0) == "1234"
    assert p.feed(b"9", 2.0) is None and p.feed(b"#", 30.0) is None  # stale digits expire


def test_frame_checker_counts_bad_frames() -> None:
    assert crc16(b"123456789") == 0xE5CC
    bad: list[str] = []
    fc = FrameChecker(bad.append)
    frame = build_frame(0x81, 0x40, seq=2)
    broken = bytearray(frame)
    broken[-1] ^= 1
    assert fc.feed(b"\xff" + frame[:4]) == []
    good = fc.feed(frame[4:] + bytes(broken) + b"\x00\x01" + frame)
    assert [(f.addr, f.code, f.seq) for f in good] == [(0x81, 0x40, 2), (0x81, 0x40, 2)]
    assert good[0].raw == b"\xff" + frame and good[1].raw == frame  # the mark stays with its frame
    assert bad == ["crc", "garbage"]


def test_reply_gate_passes_only_the_awaited_reply() -> None:
    strays: list[int] = []
    gate = ReplyGate(print, lambda: strays.append(1))
    gate.now = 1.0
    gate.sent(b"\xff" + build_frame(0x05, 0x60, seq=1))  # poll reader 5: no answer in time
    gate.now = 1.2
    gate.sent(b"\xff" + build_frame(0x06, 0x60, seq=1))  # libosdp moves on to reader 6
    late = build_frame(0x85, 0x40, seq=1)  # reader 5 answering, late
    mine = build_frame(0x86, 0x40, seq=1)
    assert gate.received(late + mine[:3]) == b""  # not for libosdp now; half a reply is held
    assert gate.received(mine[3:]) == mine
    assert gate.exchange(5) == (0x60, -1)  # libosdp never saw reader 5's answer
    assert gate.exchange(6) == (0x60, 0x40)
    assert gate.received(mine) == b""  # a duplicate of a reply already taken
    gate.now = 1.3
    gate.sent(build_frame(0x06, 0x60, seq=2))
    assert gate.exchange(6) == (0x60, -1)  # a new command: not answered yet
    assert gate.received(build_frame(0x86, 0x40, seq=1)) == b""  # right reader, stale sequence
    assert gate.received(build_frame(0x06, 0x60, seq=2)) == b""  # an echo of the command
    # libosdp re-sends reader 5's poll: it stays off the wire and the late reply answers it
    assert gate.outgoing(build_frame(0x05, 0x60, seq=1)) == late
    assert gate.exchange(5) == (0x60, 0x40)  # libosdp has reader 5's answer now
    assert gate.sent_at == {5: 1.0, 6: 1.3}
    assert len(strays) == 4  # the late reply, the duplicate, the stale one and the echo


def test_reply_gate_holds_back_the_first_resend() -> None:
    held: list[int] = []
    gate = ReplyGate(print, on_held=lambda: held.append(1))
    poll = build_frame(0x03, 0x60, seq=3)
    assert gate.outgoing(poll) is None
    gate.sent(poll)
    assert gate.outgoing(poll) == b""  # libosdp's first re-send: the reply is late, not lost
    assert gate.outgoing(poll) is None  # the second one goes out
    gate.sent(poll)
    assert gate.received(build_frame(0x83, 0x40, seq=3)) == build_frame(0x83, 0x40, seq=3)
    assert gate.outgoing(build_frame(0x03, 0x60, seq=1)) is None and held == [1]


def test_config_groups_and_limits() -> None:
    doors = [
        {"id": f"d{i}", "building": "b", "reader": {"bus": "bus-1" if i < 3 else "bus-2", "address": i}}
        for i in range(5)
    ]
    cfg = DoorsConfig.model_validate(
        {
            "buses": [
                {"id": "bus-1", "port": "/dev/ttyUSB0", "group": "g"},
                {"id": "bus-2", "port": "tcp://10.0.0.2:4001"},
                {"id": "spare", "port": "/dev/ttyUSB9"},
            ],
            "doors": doors,
        }
    )
    assert cfg.worker_groups() == ["g", "bus-2"]
    assert [d.id for d in cfg.doors_of("bus-2")] == ["d3", "d4"]
    with pytest.raises(ValidationError, match="used twice"):
        DoorsConfig.model_validate(
            {
                "buses": [{"id": "x", "port": "p"}],
                "doors": [
                    {"id": "a", "building": "b", "reader": {"bus": "x", "address": 1}},
                    {"id": "c", "building": "b", "reader": {"bus": "x", "address": 1}},
                ],
            }
        )
    with pytest.raises(ValidationError, match="max_readers"):
        DoorsConfig.model_validate(
            {
                "buses": [{"id": "x", "port": "p", "max_readers": 1}],
                "doors": [
                    {"id": f"a{i}", "building": "b", "reader": {"bus": "x", "address": i}} for i in range(2)
                ],
            }
        )
    with pytest.raises(ValidationError, match="exactly one"):
        DoorConfig.model_validate({"id": "a", "building": "b"})
