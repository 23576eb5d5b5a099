"""Fixtures of the master's tests; the rtt- namespace helpers live in tests/netd/routes."""

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "netd" / "routes"))

from mst_daemon import Master, make_master  # noqa: E402  (after the path above)


@pytest.fixture
def master(tmp_path: Path) -> Iterator[Master]:
    """The master daemon's namespaces, config and notify socket (start it with master.start())."""
    yield from make_master(tmp_path)
