"""Runs a RouteKeeper inside a namespace for the tests; commands arrive as JSON lines on stdin.

    python -m tests.netd.routes.keeper_driver INTERFACE ADDRESS|- [RESYNC_INTERVAL]

{"set": [["10.244.1.0/24", "10.0.0.11"], ...]}  -> set the wanted routes, reply {"converged": bool}
{"status": true}  -> {"reconciles": n, "failures": failed reconciles in a row, "next_in": seconds
                     until the schedule's next reconcile}
{"quit": true}                                   -> stop
Works under the venv's pyroute2 and Debian's python3-pyroute2 (0.7).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from ipaddress import IPv4Address, IPv4Network

from netd.routes.keeper import RouteKeeper
from netd.routes.kernel import InterfaceAddress
from netd.routes.plan import PodRoute


def main() -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    interface, address = sys.argv[1], sys.argv[2]
    resync = float(sys.argv[3]) if len(sys.argv) > 3 else 30.0
    kept = None
    if address != "-":
        ip, prefix = address.split("/")
        kept = InterfaceAddress(IPv4Address(ip), int(prefix))
    keeper = RouteKeeper(interface, kept, resync_interval=resync)
    keeper.start()
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        command = json.loads(line)
        if "set" in command:
            keeper.set_routes(PodRoute(IPv4Network(d), IPv4Address(g)) for d, g in command["set"])
            print(json.dumps({"converged": keeper.wait_converged(command.get("timeout", 5))}), flush=True)
        elif "status" in command:
            status = {"reconciles": keeper.reconciles, "failures": keeper.schedule.failures,
                      "next_in": keeper.next_due - time.monotonic()}
            print(json.dumps(status), flush=True)
        elif "quit" in command:
            break
    keeper.stop()


if __name__ == "__main__":
    main()
