"""Local linkage rules: when an event of a type arrives from a source, run actions at once."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from edged.config.base import Strict


class CommandAction(Strict):
    """Send a command to a doors/gates worker and wait for its result."""

    action: Literal["command"] = "command"
    worker: str = Field(description="target worker name, e.g. `doors:bus-1` or `gates`")
    command: str
    args: dict[str, str | int | float | bool] = Field(default_factory=dict)
    timeout_s: float = Field(2.0, gt=0, le=30)


class RaiseAction(Strict):
    """Raise a new event (e.g. a `linkage` alarm for the guard room)."""

    action: Literal["raise"] = "raise"
    type: str = "linkage"
    priority: int = Field(0, ge=0, le=2)


Action = Annotated[CommandAction | RaiseAction, Field(discriminator="action")]


class RuleConfig(Strict):
    id: str = Field(min_length=1)
    when_type: str = Field(description="event type that triggers the rule")
    when_source: str | None = Field(None, description="only this source (default: any)")
    cooldown_s: float = Field(0.0, ge=0, description="ignore repeats from one source within this time")
    then: list[Action] = Field(min_length=1)
