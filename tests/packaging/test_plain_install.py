"""The `edged` command works from a plain (non-editable) install, as in the Docker image and install.sh.

The dev venv installs edged editable, and the editable finder imports modules (importlib.util,
...) that a wheel install does not: code that only works because of that breaks
`edged models prepare` in the image build. This runs the CLI with site-packages on the path but
without processing its .pth files, which is what a wheel install looks like to Python.
"""

from __future__ import annotations

import site
import subprocess
import sys

from pkg_tools import REPO

_SCRIPT = """
import sys
sys.path[:0] = [{repo!r}, *{site!r}]
from edged.cli import main
sys.exit(main(["--help"]))
"""


def test_cli_help_without_the_editable_finder() -> None:
    code = _SCRIPT.format(repo=str(REPO), site=site.getsitepackages())
    proc = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "check-config" in proc.stdout and "run" in proc.stdout
