"""The operator docs stay true: the example site validates, links resolve, alerts and commands exist."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from pkg_tools import REPO

from edged.cli import COMMANDS
from edged.config import load_site_config

DOCS = REPO / "docs"
OURS = ["install.md", "configure.md", "commission.md", "monitor.md"]
# Written by the helpers who own those areas; a link to one that is not there yet is reported, not failed.
OTHERS = {"cameras.md", "detection.md", "falling.md", "thermal.md", "doors.md", "uplink-protocol.md"}


def _text(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


def test_configure_example_site_is_valid(tmp_path: Path) -> None:
    blocks = [
        b
        for b in re.findall(r"```yaml\n(.*?)```", _text("configure.md"), re.S)
        if b.startswith("# site.yaml")
    ]
    assert len(blocks) == 1
    path = tmp_path / "site.yaml"
    path.write_text(blocks[0], encoding="utf-8")
    cfg = load_site_config(path)
    assert cfg.site.id == "jiangbei-garden"
    assert any(c.facade is not None for c in cfg.cameras) and any(c.thermal is not None for c in cfg.cameras)


def test_links_resolve() -> None:
    pending: list[str] = []
    for name in OURS:
        for target in re.findall(r"\]\(([^)#:]+?\.md)(?:#[^)]*)?\)", _text(name)):
            if (DOCS / target).exists():
                continue
            assert target in OTHERS, f"{name} links to missing {target}"
            pending.append(f"{name} -> {target}")
    if pending:
        pytest.skip("other areas' docs not written yet: " + ", ".join(sorted(set(pending))))


def test_every_alert_is_documented() -> None:
    rules = yaml.safe_load((REPO / "deploy/prometheus/edged-alerts.yml").read_text())
    monitor = _text("monitor.md")
    missing = [r["alert"] for g in rules["groups"] for r in g["rules"] if f"`{r['alert']}`" not in monitor]
    assert not missing


def test_commands_in_docs_exist() -> None:
    known = {" ".join(words) for words, _, _ in COMMANDS}
    firsts = {words[0] for words, _, _ in COMMANDS}
    for name in OURS:
        for m in re.finditer(r"(?:edged|\$E)\s+([a-z][a-z-]*)(?:\s+([a-z][a-z-]*))?", _text(name)):
            first, second = m.group(1), m.group(2)
            if first not in firsts:
                continue  # prose ("edged runs on ..."), not a command
            assert first in known or f"{first} {second}" in known, f"{name}: unknown command {m.group(0)!r}"
