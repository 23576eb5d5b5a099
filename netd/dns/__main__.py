"""Run the DNS service alone: `python -m netd.dns --node node-3=10.0.0.3 ...`.

For integration tests and benchmarks that put the server in a network
namespace (`ip netns exec NS python -m netd.dns ...`). The daemon itself runs
the service through `create(ctx)`. Prints `ready` once serving; SIGUSR1
writes every counter as JSON to --stats-file; SIGTERM/SIGINT stop it.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging
import signal
import sys
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

from foundation.config.model import ClusterSection, Config, NetworkSection
from foundation.records import NodeRecord
from netd.bus import EventBus
from netd.dns.service import DnsService, DnsSettings
from netd.service import NetdContext


def _node(text: str) -> NodeRecord:
    name, _, address = text.partition("=")
    return NodeRecord(
        name=name, address=IPv4Address(address) if address else None, mac=None, pod_cidr=None
    )


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m netd.dns", description=__doc__)
    parser.add_argument("--domain", default="cluster.home")
    parser.add_argument("--cluster-name", default="picluster")
    parser.add_argument("--subnet", type=IPv4Network, default=IPv4Network("10.0.0.0/24"))
    parser.add_argument("--master-address", type=IPv4Address, default=IPv4Address("10.0.0.1"))
    parser.add_argument(
        "--listen", type=IPv4Address, action="append", help="default: master address and 127.0.0.1"
    )
    parser.add_argument("--port", type=int, default=53)
    parser.add_argument("--node", type=_node, action="append", default=[], help="NAME=ADDRESS")
    parser.add_argument("--upstream", type=IPv4Address, action="append", help="default: auto")
    parser.add_argument(
        "--resolv-conf", type=Path, help="where `auto` reads the uplink's resolvers"
    )
    parser.add_argument("--stats-file", type=Path)
    parser.add_argument(
        "--no-fast-path", action="store_true", help="answer everything in Python (no C cache)"
    )
    parser.add_argument("--debug", action="store_true")
    return parser.parse_args(argv)


async def _run(args: argparse.Namespace) -> None:
    config = Config(
        cluster=ClusterSection(name=args.cluster_name, domain=args.domain),
        network=NetworkSection(
            subnet=args.subnet,
            master_address=args.master_address,
            upstream_dns=tuple(args.upstream) if args.upstream else None,
        ),
        source="<command line>",
    )
    nodes = list(args.node)
    ctx = NetdContext(config=config, bus=EventBus(), state_dir=Path("."), known_nodes=lambda: nodes)
    settings = DnsSettings(
        port=args.port,
        listen=tuple(args.listen) if args.listen else None,
        fast_path=not args.no_fast_path,
    )
    if args.resolv_conf:
        settings = dataclasses.replace(settings, resolv_conf=args.resolv_conf)
    service = DnsService(ctx, settings)
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stopped.set)
    loop.add_signal_handler(signal.SIGINT, stopped.set)
    if args.stats_file:

        def dump() -> None:
            args.stats_file.write_text(json.dumps(service.counters()))

        loop.add_signal_handler(signal.SIGUSR1, dump)
    await service.start()
    print("ready", flush=True)
    try:
        await stopped.wait()
    finally:
        await service.stop()


def main(argv: list[str] | None = None) -> None:
    """Parse arguments and serve until told to stop."""
    args = _arguments(argv)
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING, stream=sys.stderr)
    asyncio.run(_run(args))


if __name__ == "__main__":
    main()
