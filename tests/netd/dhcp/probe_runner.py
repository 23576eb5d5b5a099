"""Probe addresses with netd's Prober on br0 and print what it found (run in the server namespace).

    python -m tests.netd.dhcp.probe_runner '[["10.0.0.10", true], ...]'

Each entry is an address and whether it is on the link (ARP) or behind a relay (ICMP echo);
prints a JSON list of booleans, in use or not, in the same order.
"""

from __future__ import annotations

import asyncio
import json
import sys
from ipaddress import IPv4Address

from netd.dhcp.rawlink import Prober


async def main(wanted: list[tuple[str, bool]]) -> None:
    results: dict[int, bool] = {}
    done = asyncio.Event()

    def report(batch: list[tuple[int, bool]]) -> None:
        for token, in_use in batch:
            results[token] = in_use
        if len(results) == len(wanted):
            done.set()

    prober = Prober("br0", 0.3, report)
    for token, (address, on_link) in enumerate(wanted, start=1):
        prober.probe(token, IPv4Address(address), on_link)
    await asyncio.wait_for(done.wait(), 5)
    prober.close()
    print(json.dumps([results[token] for token in range(1, len(wanted) + 1)]))


if __name__ == "__main__":
    asyncio.run(main([(address, bool(on_link)) for address, on_link in json.loads(sys.argv[1])]))
