"""Match events against the configured rules; decide which actions to run (no I/O here)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from edged.config.rules import Action, RuleConfig
from edged.events import Event


@dataclass(frozen=True)
class Firing:
    rule: RuleConfig
    action: Action
    trigger: Event


class RuleEngine:
    def __init__(self, rules: list[RuleConfig]) -> None:
        self._by_type: dict[str, list[RuleConfig]] = {}
        for rule in rules:
            self._by_type.setdefault(rule.when_type, []).append(rule)
        self._last_fired: dict[tuple[str, str], float] = {}

    def match(self, event: Event, now: float | None = None) -> list[Firing]:
        now = time.monotonic() if now is None else now
        firings: list[Firing] = []
        for rule in self._by_type.get(event["type"], ()):
            if rule.when_source is not None and rule.when_source != event["source"]:
                continue
            key = (rule.id, event["source"])
            last = self._last_fired.get(key)
            if last is not None and now - last < rule.cooldown_s:
                continue
            self._last_fired[key] = now
            firings.extend(Firing(rule, action, event) for action in rule.then)
        return firings
