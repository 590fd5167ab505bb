"""deploy/grafana/edged.json: a loadable dashboard whose queries select only edged_ metrics and parse."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from pkg_tools import REPO, promql_metric_names

DASHBOARD = REPO / "deploy/grafana/edged.json"


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))


def _exprs(dash: dict[str, Any]) -> list[str]:
    exprs = [t["expr"] for p in _panels(dash["panels"]) for t in p.get("targets", [])]
    for var in dash["templating"]["list"]:
        if var["type"] == "query":
            query = var["query"]
            exprs.append(query["query"] if isinstance(query, dict) else query)
    return exprs


def _as_promql(expr: str) -> str:
    """Grafana's variables replaced by what Grafana substitutes, so promtool can parse the query."""
    if expr.startswith("label_values("):
        # label_values(metric, label) is Grafana's, not PromQL: keep its metric selector.
        return expr[len("label_values(") :].split(",")[0]
    return expr.replace("$__rate_interval", "1m").replace("$instance", ".*")


@pytest.fixture(scope="module")
def dash() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())


def test_dashboard_shape(dash: dict[str, Any]) -> None:
    assert dash["uid"] and dash["title"] and dash["schemaVersion"] >= 36
    panels = list(_panels(dash["panels"]))
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids))
    # No two panels overlap on the 24-column grid.
    cells: set[tuple[int, int]] = set()
    for p in panels:
        g = p["gridPos"]
        assert g["x"] + g["w"] <= 24
        mine = {(x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])}
        assert not cells & mine, p["title"]
        cells |= mine
    for p in panels:
        if p["type"] != "row":
            assert p["datasource"]["uid"] == "${datasource}" and p["targets"], p["title"]


def test_every_expr_names_only_edged_metrics(dash: dict[str, Any]) -> None:
    exprs = _exprs(dash)
    assert len(exprs) > 10
    used: set[str] = set()
    for expr in exprs:
        names = promql_metric_names(_as_promql(expr))
        assert names, expr
        assert all(n.startswith("edged_") for n in names), (expr, names)
        used |= names
    for needed in (
        "edged_worker_up",
        "edged_worker_restarts_total",
        "edged_camera_last_frame_age_seconds",
        "edged_uplink_oldest_unsent_age_seconds",
        "edged_doors_readers_online",
    ):
        assert needed in used


@pytest.mark.skipif(
    shutil.which("promtool") is None, reason="promtool not installed (Debian package `prometheus`)"
)
def test_every_expr_parses_as_promql(dash: dict[str, Any], tmp_path: Path) -> None:
    """promtool has no bare query parser; a recording rule per query makes `check rules` parse each."""
    rules = [
        {"record": f"edged:dashboard_query_{i}", "expr": _as_promql(e)} for i, e in enumerate(_exprs(dash))
    ]
    path = tmp_path / "queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    proc = subprocess.run(
        ["promtool", "check", "rules", str(path)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
