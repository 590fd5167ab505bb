"""Grant or deny one credential at one door, from the local store only (no network)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from edged.access.credentials import Credential, CredentialStore

# Reasons a credential is denied; `unknown` feeds the stranger rules.
UNKNOWN = "unknown"
NOT_PERMITTED = "not_permitted"
NOT_YET_VALID = "not_yet_valid"
EXPIRED = "expired"
VISITOR_OUTSIDE_WINDOW = "visitor_outside_window"
LOCKED_DOWN = "locked_down"


@dataclass(frozen=True)
class Decision:
    granted: bool
    reason: str
    holder: str = ""
    visitor: bool = False
    extended: bool = False


def decide(
    store: CredentialStore,
    kind: str,
    value: str,
    door_groups: Collection[str],
    now: float,
    locked_down: bool = False,
) -> Decision:
    rows = store.lookup(kind, value)
    if not rows:
        return Decision(False, UNKNOWN)
    mine = [r for r in rows if r.door_group in door_groups]
    if not mine:
        return Decision(False, NOT_PERMITTED, holder=rows[0].holder, visitor=rows[0].visitor)
    valid = [r for r in mine if r.valid_at(now)]
    if not valid:
        return _outside_window(mine, now)
    best = max(valid, key=lambda r: r.extended)
    if locked_down:
        return Decision(False, LOCKED_DOWN, holder=best.holder, visitor=best.visitor)
    return Decision(True, "valid", holder=best.holder, visitor=best.visitor, extended=best.extended)


def _outside_window(rows: list[Credential], now: float) -> Decision:
    r = rows[0]
    if r.visitor:
        return Decision(False, VISITOR_OUTSIDE_WINDOW, holder=r.holder, visitor=True)
    early = all(x.valid_from is not None and now < x.valid_from for x in rows)
    return Decision(False, NOT_YET_VALID if early else EXPIRED, holder=r.holder)
