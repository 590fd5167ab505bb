"""The rules worker: receives every event reliably and runs the linkage actions at once.

Command actions run on a small thread pool (each thread with its own command client) so a
slow door or gate never delays the next event.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from prometheus_client import Counter

from edged.bus.commands import CommandClient, CommandError, CommandTimeout
from edged.bus.reliable import EventReceiver
from edged.config.rules import CommandAction, RaiseAction
from edged.events import Event, Priority, new_event
from edged.rules.engine import Firing, RuleEngine
from edged.workers.runtime import WorkerContext

RULE_ACTIONS = Counter(
    "edged_rules_actions_total", "Rule actions run, by rule and result.", ["rule", "result"]
)


def run(ctx: WorkerContext) -> None:
    engine = RuleEngine(ctx.config.rules)
    local = threading.local()
    pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="rule-action")

    def client_for(worker: str) -> CommandClient:
        clients: dict[str, CommandClient] = local.__dict__.setdefault("clients", {})
        if worker not in clients:
            clients[worker] = CommandClient(ctx.zmq, ctx.endpoints.commands(worker))
        return clients[worker]

    def run_command(firing: Firing, action: CommandAction) -> None:
        try:
            result = client_for(action.worker).call(action.command, action.args, action.timeout_s)
            outcome, detail = "ok", {"result": result}
        except CommandTimeout as exc:
            outcome, detail = "timeout", {"error": str(exc)}
        except CommandError as exc:
            outcome, detail = "error", {"error": str(exc)}
        RULE_ACTIONS.labels(rule=firing.rule.id, result=outcome).inc()
        ctx.emit(
            new_event(
                "rule_action",
                f"rules/{firing.rule.id}",
                {
                    "rule": firing.rule.id,
                    "trigger_id": firing.trigger["id"],
                    "trigger_type": firing.trigger["type"],
                    "worker": action.worker,
                    "command": action.command,
                    "outcome": outcome,
                    **detail,
                },
                Priority.NORMAL,
            )
        )

    def handle(events: list[Event]) -> None:
        for event in events:
            for firing in engine.match(event):
                action = firing.action
                if isinstance(action, CommandAction):
                    pool.submit(run_command, firing, action)
                elif isinstance(action, RaiseAction):
                    RULE_ACTIONS.labels(rule=firing.rule.id, result="ok").inc()
                    ctx.emit(
                        new_event(
                            action.type,
                            firing.trigger["source"],
                            {
                                "rule": firing.rule.id,
                                "trigger_id": firing.trigger["id"],
                                "trigger_type": firing.trigger["type"],
                                "trigger_data": firing.trigger["data"],
                            },
                            action.priority,
                        )
                    )

    receiver = EventReceiver(ctx.zmq, ctx.endpoints.events("rules"), "rules", handle)
    ctx.log.info("rules loaded", rules=len(ctx.config.rules))
    ctx.beat(events_handled=0)  # bound and ready: up now, not after the first poll
    try:
        while not ctx.stopping.is_set():
            n = receiver.poll(200)
            ctx.beat(events_handled=n)
    finally:
        pool.shutdown(wait=True, cancel_futures=False)
        receiver.close()
