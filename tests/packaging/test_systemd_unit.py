"""systemd/edged.service passes `systemd-analyze verify` and keeps the settings the daemon relies on."""

from __future__ import annotations

from pathlib import Path

import pytest
from pkg_tools import REPO
from systemd_root import SYSTEMD_ANALYZE, make_root, parse_unit, security_exposure, verify

UNIT = REPO / "systemd/edged.service"

needs_systemd = pytest.mark.skipif(
    SYSTEMD_ANALYZE is None, reason="systemd-analyze not installed (Debian package `systemd`)"
)


@needs_systemd
def test_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    rc, complaints = verify(make_root(tmp_path, UNIT.read_text()))
    assert rc == 0 and complaints == [], "\n".join(complaints)


@needs_systemd
def test_verify_catches_a_broken_unit(tmp_path: Path) -> None:
    """The check above can fail: a misspelt key and a missing binary are both reported."""
    broken = UNIT.read_text().replace("WatchdogSec=30", "WatchdogSecs=30")
    broken = broken.replace("/opt/edged/venv/bin/edged", "/opt/edged/venv/bin/nothere")
    rc, complaints = verify(make_root(tmp_path, broken))
    text = "\n".join(complaints)
    assert "WatchdogSecs" in text
    assert rc != 0 and "nothere" in text


@needs_systemd
def test_unit_hardening_exposure_is_low(tmp_path: Path) -> None:
    exposure, report = security_exposure(make_root(tmp_path, UNIT.read_text()))
    assert exposure <= 2.5, report


def test_unit_settings_the_daemon_relies_on() -> None:
    unit = parse_unit(UNIT.read_text())
    svc = {k: v[-1] for k, v in unit["Service"].items()}
    assert svc["Type"] == "notify" and svc["NotifyAccess"] == "main"
    assert svc["WatchdogSec"] == "30"
    assert svc["Restart"] == "on-failure" and "RestartSec" in svc
    # The supervisor needs 10 s to stop and flush every worker; systemd must wait longer than that.
    assert int(svc["TimeoutStopSec"]) > 10
    assert svc["ExecStart"] == "/opt/edged/venv/bin/edged run -c /etc/edged/site.yaml"
    assert svc["RuntimeDirectory"] == "edged" and svc["RuntimeDirectoryMode"] == "0700"
    assert svc["StateDirectory"] == "edged"
    assert svc["User"] == "edged"
    assert set(svc["SupplementaryGroups"].split()) == {"dialout", "video"}
    for key in ("ProtectSystem", "ProtectHome", "PrivateTmp", "NoNewPrivileges", "ReadWritePaths"):
        assert key in svc, key
    assert svc["ProtectSystem"] == "strict"
    assert svc["DevicePolicy"] == "closed"
    allowed = " ".join(unit["Service"]["DeviceAllow"])
    assert "char-ttyUSB" in allowed and "char-video4linux" in allowed
    assert unit["Install"]["WantedBy"] == ["multi-user.target"]
