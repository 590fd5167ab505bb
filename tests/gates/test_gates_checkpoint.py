"""The checkpoint state machine on a hand-driven monotonic clock (no IO: pure logic)."""

from __future__ import annotations

from typing import Any

import pytest

from edged.config.gates import CheckpointConfig, CheckpointIOConfig
from edged.gates.checkpoint import Checkpoint, Effect, Emit, Phase, Pulse, Refused


def make(close_coil: int | None = 1, closed_input: int | None = 1, **kw: Any) -> Checkpoint:
    io = CheckpointIOConfig(device="d", close_coil=close_coil, closed_input=closed_input)
    cp = Checkpoint(
        CheckpointConfig(id="north", io=io, close_delay_s=1.0, open_timeout_s=20.0, motion_s=2.0, **kw)
    )
    cp.set_online(True, 0.0, "d", "answering")
    cp.sample(False, True if closed_input is not None else None, 0.0)
    return cp


def types(effects: list[Effect]) -> list[str]:
    return [e.type if isinstance(e, Emit) else f"pulse:{e.which}" for e in effects]


def test_open_passage_and_auto_close_after_loop_clears() -> None:
    cp = make()
    assert types(cp.open("command", 1.0)) == ["pulse:open", "gate_opened"]
    assert cp.phase is Phase.OPENING
    assert cp.sample(False, False, 2.0) == [] and cp.phase is Phase.OPEN
    cp.sample(True, False, 3.0)  # vehicle on the loop
    assert cp.tick(30.0) == []  # never closes on a vehicle, whatever the timeout
    cp.sample(False, False, 31.0)  # clear
    assert cp.tick(31.5) == []  # not yet: close_delay_s is 1.0
    assert types(cp.tick(32.1)) == ["pulse:close"] and cp.phase is Phase.CLOSING
    closed = cp.sample(False, True, 33.0)
    assert types(closed) == ["gate_closed"] and cp.phase is Phase.CLOSED
    assert isinstance(closed[0], Emit) and closed[0].data["reason"] == "command"


def test_open_without_vehicle_closes_after_timeout() -> None:
    cp = make()
    cp.open("whitelist", 0.0)
    cp.sample(False, False, 1.0)
    assert cp.tick(19.0) == []
    assert types(cp.tick(20.5)) == ["pulse:close"]


def test_barrier_opening_without_command_is_forced_once() -> None:
    cp = make()
    effects = cp.sample(False, False, 10.0)
    assert types(effects) == ["gate_forced"]
    assert isinstance(effects[0], Emit) and effects[0].priority == 0
    assert cp.sample(False, False, 10.1) == []  # still open: no second alarm
    # An opening soon after our own pulse is not forced.
    cp.sample(False, True, 11.0)
    cp.open("command", 12.0)
    assert "gate_forced" not in types(cp.sample(False, False, 12.5))


def test_hold_refuses_opens_until_it_expires_or_is_released() -> None:
    cp = make()
    assert types(cp.hold(30.0, 1.0, "fever")) == ["gate_held"]
    with pytest.raises(Refused) as refused:
        cp.open("command", 5.0)
    assert refused.value.why == "held"
    assert types(cp.tick(31.5)) == ["gate_released"]
    assert types(cp.open("command", 32.0))[0] == "pulse:open"
    cp.hold(30.0, 40.0)
    assert types(cp.release(41.0)) == ["gate_released"] and not cp.held(41.0)


def test_hold_closes_an_open_barrier_once_the_loop_is_clear() -> None:
    cp = make()
    cp.open("visitor", 0.0)
    cp.sample(True, False, 1.0)
    assert types(cp.hold(60.0, 2.0)) == ["gate_held"]  # vehicle under the barrier: wait
    assert types(cp.sample(False, False, 3.0)) == ["pulse:close"]  # no close delay while held


def test_refuses_when_offline_or_without_io() -> None:
    cp = make()
    assert types(cp.set_online(False, 1.0, "d", "timeout")) == ["gate_io_offline"]
    with pytest.raises(Refused, match="offline"):
        cp.open("command", 2.0)
    bare = Checkpoint(CheckpointConfig(id="ped"))
    with pytest.raises(Refused, match="no barrier IO"):
        bare.open("command", 0.0)


def test_back_online_resyncs_without_false_forced_alarm() -> None:
    cp = make()
    cp.set_online(False, 1.0, "d", "connect")
    assert types(cp.set_online(True, 5.0, "d", "answering")) == ["gate_io_online"]
    # The barrier was opened while we could not see it: adopt it, no alarm; close when clear.
    assert cp.sample(False, False, 5.1) == [] and cp.phase is Phase.OPEN
    assert types(cp.tick(26.0)) == ["pulse:close"]


def test_barrier_that_does_not_move_is_a_fault() -> None:
    cp = make()
    cp.open("command", 0.0)
    assert types(cp.tick(2.5)) == ["gate_fault"] and cp.phase is Phase.CLOSED


def test_without_close_relay_or_limit_switch_trusts_travel_time() -> None:
    cp = make(close_coil=None, closed_input=None)
    effects = cp.open("command", 0.0)
    assert effects[0] == Pulse("open") and cp.phase is Phase.OPEN
    cp.sample(True, None, 1.0)
    cp.sample(False, None, 2.0)
    assert cp.tick(3.1) == [] and cp.phase is Phase.CLOSING  # the barrier closes itself
    assert types(cp.tick(5.2)) == ["gate_closed"] and cp.phase is Phase.CLOSED
