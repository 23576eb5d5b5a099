"""Where things are: the checkout, the venv's Python and `appliance`, Debian's python3."""

from __future__ import annotations

import functools
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
"""The checkout (tests run programs as `python -m tests....` from here)."""

PYTHON = sys.executable
"""The venv's Python (runs the master's side: netd, the API, the test programs)."""

APPLIANCE = str(Path(sys.executable).parent / "appliance")
"""The venv's `appliance` console script."""


@functools.cache
def debian_python() -> str:
    """/usr/bin/python3 with python3-pyroute2: what a node runs the agent with (asserted present)."""
    python = shutil.which("python3", path="/usr/bin")
    assert python is not None, "/usr/bin/python3 is missing; fix: scripts/install"
    done = subprocess.run([python, "-c", "import pyroute2"], capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"{python} cannot import pyroute2 ({done.stderr.strip()}); fix: scripts/install"
    return python
