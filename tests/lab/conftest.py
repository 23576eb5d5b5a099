"""Fixtures for tests that use the virtual cluster (hardware/lab).

- `lab_manager` (session): brings a 4-board lab up on first use, with fresh
  disks, and takes it down at the end of the session. Addressing is `dhcp`
  when the master daemon (`appliance netd run`) exists, else `static`
  ($PILAB_ADDRESSING overrides).
- `lab`: the running lab (a LabHandle) with helpers: `run(node, cmd)`,
  `read_file(node, path)`, `wait_for(cond, timeout)`, `ssh(node)`,
  `address(node)`, `power(node, on|off)`, `link(node, up|down)`. Function
  scoped only so that a test which took the lab down (`lab_manager.suspend()`)
  gets it back; the lab itself is made once per session.

Tests that need the lab live in this folder (tests/lab/test_<area>_*.py), so
they share this one session lab instead of each folder starting its own.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hardware.lab.testing import LabHandle, LabManager, wait_for


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


__all__ = ["lab", "lab_manager", "wait_for"]
