"""deploy/prometheus/edged-alerts.yml: valid for Prometheus' own promtool, and every alert unit-tested."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from pkg_tools import REPO, promql_metric_names

RULES_DIR = REPO / "deploy/prometheus"
RULES = RULES_DIR / "edged-alerts.yml"
TESTS = RULES_DIR / "edged-alerts.test.yml"
PROMTOOL = shutil.which("promtool")

needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool not installed (Debian package `prometheus`)"
)


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run([PROMTOOL, *args], capture_output=True, text=True, timeout=60)


def _rules() -> list[dict[str, object]]:
    doc = yaml.safe_load(RULES.read_text())
    return [rule for group in doc["groups"] for rule in group["rules"]]


@needs_promtool
def test_promtool_check_rules() -> None:
    proc = _promtool("check", "rules", str(RULES))
    assert proc.returncode == 0, proc.stdout + proc.stderr


@needs_promtool
def test_promtool_test_rules() -> None:
    proc = _promtool("test", "rules", str(TESTS))
    assert proc.returncode == 0 and "SUCCESS" in proc.stdout, proc.stdout + proc.stderr


@needs_promtool
def test_promtool_tests_fail_on_a_wrong_threshold(tmp_path: Path) -> None:
    """The unit tests can fail: raising the camera threshold tenfold breaks them."""
    for f in (RULES, TESTS):
        shutil.copy(f, tmp_path / f.name)
    rules = tmp_path / RULES.name
    text = rules.read_text()
    assert "edged_camera_last_frame_age_seconds > 30" in text
    rules.write_text(
        text.replace("edged_camera_last_frame_age_seconds > 30", "edged_camera_last_frame_age_seconds > 300")
    )
    proc = _promtool("test", "rules", str(tmp_path / TESTS.name))
    assert proc.returncode != 0 and "EdgedCameraNoFrames" in proc.stdout + proc.stderr


def test_every_alert_is_shown_firing_in_the_unit_tests() -> None:
    tests = yaml.safe_load(TESTS.read_text())
    fired = {
        case["alertname"]
        for test in tests["tests"]
        for case in test.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    names = {str(rule["alert"]) for rule in _rules()}
    assert names - fired == set()


def test_alerts_use_edged_metrics_and_carry_severity() -> None:
    required = {
        "edged_worker_up",
        "edged_worker_failed",
        "edged_worker_restarts_total",
        "edged_worker_heartbeat_age_seconds",
        "edged_bus_malformed_messages_total",
        "edged_bus_events_dropped_total",
        "edged_camera_last_frame_age_seconds",
        "edged_uplink_oldest_unsent_age_seconds",
        "edged_doors_readers_online",
    }
    used: set[str] = set()
    for rule in _rules():
        names = promql_metric_names(str(rule["expr"]))
        assert all(n.startswith("edged_") or n == "up" for n in names), (rule["alert"], names)
        used |= names
        labels = rule.get("labels")
        assert isinstance(labels, dict) and labels.get("severity") in {"critical", "warning"}
    assert required <= used, required - used
