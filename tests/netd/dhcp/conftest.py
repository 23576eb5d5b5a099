"""The `lan` fixture of the DHCP tests: a server namespace with a bridge, on the namespace kit."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.netd.dhcp.lan import Lan
from tests.support.netns import NetnsKit


@pytest.fixture
def lan(net: NetnsKit, tmp_path: Path) -> Lan:
    """A /24 LAN for one test (the kit behind `net` removes it afterwards, whatever happened)."""
    return Lan(net, tmp_path)
