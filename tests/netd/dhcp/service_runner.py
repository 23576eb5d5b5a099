"""Run the DHCP service in-process with a bus subscriber; print each LeaseEvent as a JSON line.

Usage (inside the server namespace): python dhcpt_events.py CONFIG STATE_DIR OUTFILE [COMPACT_AFTER]

With DHCPT_ENGINE_BUG=1 in the environment the engine raises on every packet whose chaddr's
fourth byte is 0x99 (an injected bug, to see what the server's catch-all does with a flood).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
from pathlib import Path

from foundation.config import load_config
from foundation.records import LeaseEvent
from netd.bus import EventBus
from netd.dhcp.model import Command, Event, PacketReceived
from netd.dhcp.service import DhcpSettings, create
from netd.service import NetdContext


async def main() -> None:
    logging.basicConfig(level=logging.INFO)
    bus = EventBus()
    ctx = NetdContext(load_config(sys.argv[1]), bus, Path(sys.argv[2]))
    out = open(sys.argv[3], "w", buffering=1)
    queue = bus.subscribe()
    compact_after = int(sys.argv[4]) if len(sys.argv) > 4 else 100000
    service = create(ctx, DhcpSettings(compact_after=compact_after))
    if os.environ.get("DHCPT_ENGINE_BUG"):
        engine = service.server.engine
        real_handle = engine.handle

        def handle_with_a_bug(event: Event, now: float) -> list[Command]:
            if isinstance(event, PacketReceived) and event.packet.chaddr[3:4] == b"\x99":
                raise RuntimeError("injected bug")
            return real_handle(event, now)

        engine.handle = handle_with_a_bug  # type: ignore[method-assign]
    await service.start()
    out.write("ready\n")
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)

    async def forward() -> None:
        while True:
            event = await queue.get()
            if isinstance(event, LeaseEvent):
                out.write(json.dumps({"change": event.change.value, "address": str(event.address),
                                      "mac": event.mac, "name": event.node_name,
                                      "hostname": event.hostname, "expires": event.expires}) + "\n")

    task = asyncio.create_task(forward())
    await stop.wait()
    task.cancel()
    await service.stop()


asyncio.run(main())
