"""Fixtures shared by the routes tests (the rtt- namespace helpers are in rtt_netns.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.rtt_netns import Netns


@pytest.fixture
def net() -> Iterator[Netns]:
    """A fresh set of rtt- namespaces, removed with everything in them after the test."""
    net = Netns()
    try:
        yield net
    finally:
        net.close()
