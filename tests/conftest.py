"""Shared pytest configuration and the `net` fixture (the namespace kit, tests/support/netns.py)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.netns import NetnsKit

SERIAL_GROUPS = {"lab": "lab", "images": "images", "kubefake": "kubefake"}
"""Test folders whose tests share one expensive session or one machine-wide thing: each runs as one
group in one pytest-xdist worker (the lab's boards in /var/lib/appliance-lab, the image tests' base
images, the fake cluster's fixed namespaces)."""


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook, which reads the group marks
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Group the tests that share a session (for `-n N --dist loadgroup`); root-only tests are
    skipped with a reason when not root (CI is root and runs them all)."""
    for item in items:
        folder = Path(str(item.path)).parent.name
        if folder in SERIAL_GROUPS:
            item.add_marker(pytest.mark.xdist_group(SERIAL_GROUPS[folder]))
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
