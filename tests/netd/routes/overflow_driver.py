"""Overflows a NetlinkWatcher's small socket buffer before it starts reading, then checks that it
goes on delivering events; prints {"overflow": bool, "route_events_after": bool}.

    python -m tests.netd.routes.overflow_driver      (inside a namespace of its own)
"""

from __future__ import annotations

import json
import subprocess
import threading

from netd.netlink_watch import NetlinkEvent, NetlinkWatcher, Overflow, RouteChange


def main() -> None:
    got_overflow = threading.Event()
    route_after_overflow = threading.Event()

    def on_event(event: NetlinkEvent) -> None:
        if isinstance(event, Overflow):
            got_overflow.set()
        elif isinstance(event, RouteChange) and got_overflow.is_set():
            route_after_overflow.set()

    subprocess.run(["ip", "link", "add", "ovf0", "type", "veth", "peer", "name", "ovf1"], check=True)
    subprocess.run(["ip", "link", "set", "ovf0", "up"], check=True)
    subprocess.run(["ip", "link", "set", "ovf1", "up"], check=True)
    subprocess.run(["ip", "addr", "add", "10.0.0.1/24", "dev", "ovf0"], check=True)
    watcher = NetlinkWatcher(on_event, rcvbuf=4096)  # subscribed, not reading yet
    batch = "".join(f"route add 10.{200 + i // 250}.{i % 250}.0/24 via 10.0.0.2 proto 171\n" for i in range(2000))
    subprocess.run(["ip", "-batch", "-"], input=batch, text=True, check=True)
    watcher.start()
    got_overflow.wait(5)
    # After the overflow the watcher goes on delivering fresh events: this deletion must arrive.
    subprocess.run(["ip", "route", "del", "10.200.0.0/24"], check=True)
    route_after_overflow.wait(5)
    watcher.stop()
    print(json.dumps({"overflow": got_overflow.is_set(), "route_events_after": route_after_overflow.is_set()}))


if __name__ == "__main__":
    main()
