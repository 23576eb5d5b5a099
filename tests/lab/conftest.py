"""Fixtures for tests that use the virtual cluster (hardware/lab).

- `lab_manager` (session): brings a 4-board lab up on first use, with fresh
  disks, and takes it down at the end of the session. Addressing is `dhcp`
  ($PILAB_ADDRESSING overrides); a master daemon that does not start fails
  `lab up`, and the tests with it.
- `lab`: the running lab (a LabHandle) with helpers: `run(node, cmd)`,
  `read_file(node, path)`, `wait_for(cond, timeout)`, `ssh(node)`,
  `address(node)`, `power(node, on|off)`, `link(node, up|down)`. Function
  scoped only so that a test which took the lab down (`lab_manager.suspend()`)
  gets it back; the lab itself is made once per session.

The handles themselves (LabHandle, LabManager) are in tests/support/lab.py.

Tests that need the lab live in this folder (tests/lab/test_<area>_*.py), so
they share this one session lab instead of each folder starting its own.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.lab import LabHandle, LabManager


@pytest.fixture(scope="session")
def lab_manager() -> Iterator[LabManager]:
    """The session's lab controller; the lab is removed at the end even if tests failed."""
    manager = LabManager(nodes=4)
    try:
        yield manager
    finally:
        manager.close()


@pytest.fixture
def lab(lab_manager: LabManager) -> LabHandle:
    """The running 4-board lab (made once per session)."""
    return lab_manager.ensure_up()

