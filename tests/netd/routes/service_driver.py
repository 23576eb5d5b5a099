"""Runs netd.routes' service inside a namespace; node events arrive as JSON lines on stdin.

argv: lan_interface nodes.json   (nodes.json: the registry snapshot known_nodes() returns)
{"upsert": [name, address, pod_cidr]} / {"remove": [name, address, pod_cidr]} / {"resync": true}
Each command is answered {"converged": bool} once the keeper caught up.
"""

import asyncio
import json
import logging
import sys
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

from foundation.config.model import Config, NetworkSection
from foundation.records import NodeChange, NodeEvent, NodeRecord
from netd.bus import EventBus, Resync
from netd.routes.service import RoutesService
from netd.service import NetdContext


def record(name: str, address: str, cidr: str) -> NodeRecord:
    return NodeRecord(name, IPv4Address(address), None, IPv4Network(cidr))


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
    while line := await loop.run_in_executor(None, sys.stdin.readline):
        command = json.loads(line)
        if "upsert" in command:
            bus.publish(NodeEvent(NodeChange.UPSERTED, record(*command["upsert"])))
        elif "remove" in command:
            bus.publish(NodeEvent(NodeChange.REMOVED, record(*command["remove"])))
        elif "resync" in command:
            bus.publish(Resync())
        await asyncio.sleep(0.05)  # let the service take the event
        print(json.dumps({"converged": await asyncio.to_thread(service.keeper.wait_converged, 5)}), flush=True)
    await service.stop()


if __name__ == "__main__":
    asyncio.run(main())
