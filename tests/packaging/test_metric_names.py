"""The alert rules and the dashboard query metrics the daemon really exports.

Metric names are read from the source (`Counter("edged_…"`, `Gauge(…`, `Histogram(…`), so a
rename in a worker breaks this test instead of silently emptying a panel or an alert.
"""

from __future__ import annotations

import json
import re

import pytest
import yaml
from pkg_tools import REPO, promql_metric_names

# Named by the issues and used here before the owning worker defines it: each entry says who.
PENDING: dict[str, str] = {}

_DEFINED = re.compile(r"\b(?:Counter|Gauge|Histogram|Summary|Info|Enum)\(\s*\"(edged_[a-z0-9_]+)\"", re.S)


def _defined() -> set[str]:
    names: set[str] = set()
    for path in (REPO / "edged").rglob("*.py"):
        names |= set(_DEFINED.findall(path.read_text(encoding="utf-8")))
    return names


def _base(name: str) -> str:
    return re.sub(r"_(bucket|sum|count)$", "", name)


def _alert_names() -> set[str]:
    doc = yaml.safe_load((REPO / "deploy/prometheus/edged-alerts.yml").read_text())
    return {n for g in doc["groups"] for r in g["rules"] for n in promql_metric_names(r["expr"])} - {"up"}


def _dashboard_names() -> set[str]:
    text = (REPO / "deploy/grafana/edged.json").read_text()
    exprs = re.findall(r'"expr":\s*("(?:[^"\\]|\\.)*")', text)
    return {n for e in exprs for n in promql_metric_names(json.loads(e))}


@pytest.mark.parametrize("where", ["alerts", "dashboard"])
def test_queried_metrics_are_defined_in_edged(where: str) -> None:
    defined = _defined()
    assert "edged_worker_up" in defined  # the scan itself works
    used = _alert_names() if where == "alerts" else _dashboard_names()
    missing = {n for n in used if _base(n) not in defined and n not in defined} - set(PENDING)
    assert not missing, f"{where} query metrics no module defines: {sorted(missing)}"
