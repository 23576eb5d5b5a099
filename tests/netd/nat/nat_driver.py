"""Runs netd.nat's service inside a namespace; prints {"applied": n, "uplink_index": i} per application.

    python -m tests.netd.nat.nat_driver LAN_INTERFACE UPLINK_INTERFACE [BACKEND [RECHECK_INTERVAL]]

Stops when stdin closes.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import tempfile
from pathlib import Path

from foundation.config.model import Config, NatSection, NetworkSection
from foundation.errors import ApplianceError
from netd.bus import EventBus
from netd.nat.service import NatService
from netd.service import NetdContext


async def main() -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    backend = sys.argv[3] if len(sys.argv) > 3 else "nftables"
    network = NetworkSection(lan_interface=sys.argv[1], uplink_interface=sys.argv[2], nat=NatSection(backend))
    recheck = float(sys.argv[4]) if len(sys.argv) > 4 else 60.0
    service = NatService(NetdContext(Config(network=network), EventBus(), Path(tempfile.gettempdir())), recheck)
    try:
        await service.start()
    except ApplianceError as error:
        print(json.dumps({"error": str(error)}), flush=True)
        return
    loop = asyncio.get_running_loop()
    stdin_closed = loop.run_in_executor(None, sys.stdin.read)
    seen = 0
    while not stdin_closed.done():
        if service.applications != seen:
            seen = service.applications
            index = service.applied.index if service.applied else None
            print(json.dumps({"applied": seen, "uplink_index": index}), flush=True)
        await asyncio.sleep(0.02)
    await service.stop()


if __name__ == "__main__":
    asyncio.run(main())
