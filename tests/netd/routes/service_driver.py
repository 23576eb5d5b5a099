"""Runs netd.routes' service inside a namespace; node events arrive as JSON lines on stdin.

    python -m tests.netd.routes.service_driver LAN_INTERFACE NODES_JSON

NODES_JSON: the registry snapshot known_nodes() returns, [[name, address, pod_cidr], ...].
{"upsert": [name, address, pod_cidr]} / {"remove": [name, address, pod_cidr]} / {"resync": true}
Each command is answered {"converged": bool} once the service took the event and the keeper
caught up.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

from foundation.config.model import Config, NetworkSection
from foundation.records import NodeChange, NodeEvent, NodeRecord
from netd.bus import EventBus, Resync
from netd.routes.service import RoutesService
from netd.service import NetdContext


def record(name: str, address: str, cidr: str) -> NodeRecord:
    return NodeRecord(name, IPv4Address(address), None, IPv4Network(cidr))


async def taken(service: RoutesService, count: int, timeout: float = 5.0) -> None:
    """Wait until the service has taken `count` bus events."""
    deadline = time.monotonic() + timeout
    while service.events_handled < count and time.monotonic() < deadline:
        await asyncio.sleep(0.005)


async def main() -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    interface, nodes_file = sys.argv[1], Path(sys.argv[2])

    def known_nodes() -> list[NodeRecord]:
        return [record(*entry) for entry in json.loads(nodes_file.read_text())]

    bus = EventBus()
    config = Config(network=NetworkSection(lan_interface=interface))
    service = RoutesService(NetdContext(config, bus, nodes_file.parent, known_nodes), cni_dir=nodes_file.parent / "cni")
    await service.start()
    print(json.dumps({"converged": await asyncio.to_thread(service.keeper.wait_converged, 5)}), flush=True)
    loop = asyncio.get_running_loop()
    published = 0
    while line := await loop.run_in_executor(None, sys.stdin.readline):
        command = json.loads(line)
        if "upsert" in command:
            bus.publish(NodeEvent(NodeChange.UPSERTED, record(*command["upsert"])))
        elif "remove" in command:
            bus.publish(NodeEvent(NodeChange.REMOVED, record(*command["remove"])))
        elif "resync" in command:
            bus.publish(Resync())
        published += 1
        await taken(service, published)
        print(json.dumps({"converged": await asyncio.to_thread(service.keeper.wait_converged, 5)}), flush=True)
    await service.stop()


if __name__ == "__main__":
    asyncio.run(main())
