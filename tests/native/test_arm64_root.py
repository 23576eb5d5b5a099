"""The extension built for aarch64 passes the native Python tests in an arm64 Debian root under qemu.

tests/native/arm64_root.py does the work (the cached root from
scripts/install, an overlay over it, the extension cross-compiled against
the root's Python, pytest run by the root's own python3 under qemu-user
through binfmt_misc); here it must end with every test passing, and nothing
of its overlay may stay mounted or on disk.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.native.arm64_root import run_tests

pytestmark = [pytest.mark.root, pytest.mark.slow]


def test_native_tests_pass_in_the_arm64_root() -> None:
    for tool in ("mmdebstrap", "aarch64-linux-gnu-gcc", "update-binfmts"):
        assert shutil.which(tool), f"{tool} is missing: scripts/install installs it"
    used: list[Path] = []
    assert run_tests([], used=used) == 0
    assert used and str(used[0].parent) not in Path("/proc/self/mounts").read_text()
    assert not used[0].parent.exists()
