"""Fixtures of the master's tests (namespaces from the tests' kit, tests/support/netns.py)."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.appliance.master.daemon_net import Master, make_master


@pytest.fixture
def master(tmp_path: Path) -> Iterator[Master]:
    """The master daemon's namespaces, config and notify socket (start it with master.start())."""
    yield from make_master(tmp_path)
