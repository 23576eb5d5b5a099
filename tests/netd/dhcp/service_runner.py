"""Run the DHCP service alone, in-process, the way netd's daemon starts it (inside a namespace).

    python -m tests.netd.dhcp.service_runner CONFIG STATE_DIR [--events FILE] [--compact-after N]
                                             [--no-probe] [--engine-bug]

Logs "dhcp service ready" once it serves and its counters when SIGTERM stops it.
--events: write every LeaseEvent the service publishes on the bus to FILE, one JSON line each.
--engine-bug: the engine raises on every packet whose chaddr's fourth byte is 0x99 (an injected
bug, to see what the server's catch-all does with a flood of them).
Tests (tests/netd/dhcp) and the DHCP benchmark (the service without the daemon) run it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
from pathlib import Path
from typing import TextIO

from foundation.config import load_config
from foundation.records import LeaseEvent
from netd.bus import Event as BusEvent
from netd.bus import EventBus
from netd.dhcp.model import Command, Event, PacketReceived
from netd.dhcp.service import DhcpService, DhcpSettings, create
from netd.service import NetdContext

log = logging.getLogger("service_runner")


def inject_engine_bug(service: DhcpService) -> None:
    """Make the engine raise on packets from chaddr ..:..:..:99:..:.. (and only those)."""
    engine = service.server.engine
    real_handle = engine.handle

    def handle_with_a_bug(event: Event, now: float) -> list[Command]:
        if isinstance(event, PacketReceived) and event.packet.chaddr[3:4] == b"\x99":
            raise RuntimeError("injected bug")
        return real_handle(event, now)

    engine.handle = handle_with_a_bug  # type: ignore[method-assign]


async def write_events(queue: asyncio.Queue[BusEvent], out: TextIO) -> None:
    """Every LeaseEvent from the bus as a JSON line."""
    while True:
        event = await queue.get()
        if isinstance(event, LeaseEvent):
            out.write(json.dumps({"change": event.change.value, "address": str(event.address),
                                  "mac": event.mac, "name": event.node_name,
                                  "hostname": event.hostname, "expires": event.expires}) + "\n")


async def main(args: argparse.Namespace) -> None:
    logging.basicConfig(level=logging.INFO)
    bus = EventBus()
    queue = bus.subscribe()
    ctx = NetdContext(load_config(args.config), bus, args.state_dir)
    service = create(ctx, DhcpSettings(compact_after=args.compact_after, probe=not args.no_probe))
    if args.engine_bug:
        inject_engine_bug(service)
    await service.start()
    log.info("dhcp service ready")
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    with open(args.events or "/dev/null", "w", buffering=1) as out:
        task = asyncio.create_task(write_events(queue, out))
        await stop.wait()
        task.cancel()
        await service.stop()


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.netd.dhcp.service_runner", description=__doc__)
    parser.add_argument("config", type=Path)
    parser.add_argument("state_dir", type=Path)
    parser.add_argument("--events", type=Path, help="file for the bus's lease events (JSON lines)")
    parser.add_argument("--compact-after", type=int, default=DhcpSettings.compact_after)
    parser.add_argument("--no-probe", action="store_true", help="offer without probing addresses")
    parser.add_argument("--engine-bug", action="store_true", help="inject a bug in the engine")
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse()))
