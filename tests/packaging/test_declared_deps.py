"""Every third-party module edged imports is a declared runtime dependency.

The Docker image and deploy/install.sh install edged from a wheel with only the dependencies in
pyproject.toml; the dev venv may hold more, so an undeclared import passes every other test and
breaks the image (`edged models prepare` at build time) or a worker on the box.
"""

from __future__ import annotations

import ast
import importlib.metadata as md
import re
import sys
import tomllib

from pkg_tools import REPO

# Imported by edged but deliberately not a pip dependency, and why.
NOT_FROM_PYPI = {
    "gi": "Debian python3-gi / gst-rtsp-server, used by the test RTSP server under the system python3",
}

# Imported by edged, installed with `pip install --no-deps` (its declared requirements clash with
# ours), so every installer must name it; what it imports is declared in pyproject instead.
NO_DEPS = {
    "rapidocr_onnxruntime": "rapidocr-onnxruntime==1.4.4",  # requires opencv-python: would clobber -headless
}
INSTALLERS = ("Makefile", "docker/Dockerfile", "deploy/install.sh")


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _declared() -> set[str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    return {_norm(re.split(r"[\s<>=!~;\[]", dep, maxsplit=1)[0]) for dep in project["dependencies"]}


def _imports() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in sorted((REPO / "edged").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [a.name.split(".")[0] for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module.split(".")[0]]
            else:
                continue
            for name in names:
                if name not in sys.stdlib_module_names and name not in ("edged", "__future__"):
                    found.setdefault(name, set()).add(str(path.relative_to(REPO)))
    return found


def test_imports_are_declared_dependencies() -> None:
    dists = md.packages_distributions()
    declared = _declared()
    problems = []
    for module, files in sorted(_imports().items()):
        if module in NOT_FROM_PYPI or module in NO_DEPS:
            continue
        owners = {_norm(d) for d in dists.get(module, [])}
        if not owners & declared:
            where = ", ".join(sorted(files)[:3])
            problems.append(f"{module} (distribution {sorted(owners) or 'unknown'}) imported by {where}")
    assert not problems, "add to [project].dependencies in pyproject.toml:\n" + "\n".join(problems)


def test_no_deps_packages_are_installed_by_every_installer() -> None:
    for module, spec in NO_DEPS.items():
        assert module in _imports(), f"{module} is no longer imported: drop it from NO_DEPS"
        for installer in INSTALLERS:
            text = (REPO / installer).read_text().replace("\\\n", " ")
            lines = [ln for ln in text.splitlines() if "--no-deps" in ln and spec in ln]
            assert lines, f"{installer} must `pip install --no-deps {spec}`"
