"""Shared pytest configuration and the `net` fixture (the namespace kit, tests/support/netns.py)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.netns import NetnsKit


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Root-only tests are skipped with a reason when not root (CI is root and runs them all)."""
    if os.geteuid() == 0:
        return
    skip = pytest.mark.skip(reason="needs root (network namespaces); CI runs as root")
    for item in items:
        if "root" in item.keywords or "lab" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def net(tmp_path: Path) -> Iterator[NetnsKit]:
    """A namespace kit for this test: everything it made is removed afterwards, also when the
    test failed (and the test errors if a namespace could not be removed)."""
    kit = NetnsKit(tmp_path / "net")
    try:
        yield kit
    finally:
        kit.close()
