"""netd.routes' service: LAN address kept, routes follow node events and Resync snapshots."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.netns import NetnsKit
from tests.support.paths import PYTHON
from tests.support.wait import wait_for

pytestmark = pytest.mark.root

DRIVER = "tests.netd.routes.service_driver"


def test_service_follows_snapshot_events_and_resync(net: NetnsKit, tmp_path: Path) -> None:
    master = net.ns("master")
    peer = net.ns("peer")
    net.veth(master, "lan0", peer, "peer0")  # no address yet: the service puts 10.0.0.1/24 on
    nodes = tmp_path / "nodes.json"
    snapshot = [
        ["master", "10.0.0.1", "10.244.0.0/24"],
        ["node-1", "10.0.0.11", "10.244.1.0/24"],
        ["node-2", "10.0.0.12", "10.244.2.0/24"],
    ]
    nodes.write_text(json.dumps(snapshot))
    proc = net.spawn(master, [PYTHON, "-m", DRIVER, "lan0", str(nodes)], stdin=True, stdout=True)

    def send(command: dict[str, object]) -> None:
        proc.send(command)
        assert proc.receive()["converged"]

    assert proc.receive()["converged"]
    assert "10.0.0.1/24" in net.addresses(master, "lan0")
    assert net.routes(master) == {"10.244.1.0/24": "10.0.0.11", "10.244.2.0/24": "10.0.0.12"}
    conflist = json.loads((tmp_path / "cni" / "10-appliance.conflist").read_text())
    assert conflist["plugins"][0]["ipam"]["ranges"][0][0]["subnet"] == "10.244.0.0/24"  # the master's slice

    send({"upsert": ["node-3", "10.0.0.13", "10.244.3.0/24"]})
    assert net.routes(master)["10.244.3.0/24"] == "10.0.0.13"
    send({"upsert": ["node-1", "10.0.0.21", "10.244.1.0/24"]})  # node-1 got a new lease
    assert net.routes(master)["10.244.1.0/24"] == "10.0.0.21"
    send({"remove": ["node-2", "10.0.0.12", "10.244.2.0/24"]})  # forgotten
    assert "10.244.2.0/24" not in net.routes(master)

    # The registry (snapshot) is the truth after a Resync: node-3 was never committed there.
    send({"resync": True})
    assert net.routes(master) == {"10.244.1.0/24": "10.0.0.11", "10.244.2.0/24": "10.0.0.12"}
    net.ip(master, "addr", "flush", "dev", "lan0")
    wait_for(lambda: "10.0.0.1/24" in net.addresses(master, "lan0"), 2, what="the LAN address back")
    wait_for(lambda: len(net.routes(master)) == 2, 2, what="the routes back")
