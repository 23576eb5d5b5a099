"""Overflows a NetlinkWatcher's small socket buffer before it starts reading; prints the events' kinds."""

import json
import subprocess
import threading

from netd.netlink_watch import NetlinkWatcher, Overflow, RouteChange

seen: list[str] = []
got_overflow = threading.Event()


def on_event(event: object) -> None:
    seen.append(type(event).__name__)
    if isinstance(event, Overflow):
        got_overflow.set()


subprocess.run(["ip", "link", "add", "rtt-o0", "type", "veth", "peer", "name", "rtt-o1"], check=True)
subprocess.run(["ip", "link", "set", "rtt-o0", "up"], check=True)
subprocess.run(["ip", "link", "set", "rtt-o1", "up"], check=True)
subprocess.run(["ip", "addr", "add", "10.0.0.1/24", "dev", "rtt-o0"], check=True)
watcher = NetlinkWatcher(on_event, rcvbuf=4096)  # subscribed, not reading yet
batch = "".join(f"route add 10.{200 + i // 250}.{i % 250}.0/24 via 10.0.0.2 proto 171\n" for i in range(2000))
subprocess.run(["ip", "-batch", "-"], input=batch, text=True, check=True)
watcher.start()
got_overflow.wait(5)
# After the overflow the watcher goes on delivering fresh events.
subprocess.run(["ip", "route", "del", "10.200.0.0/24"], check=True)
deadline = threading.Event()
deadline.wait(0.5)
watcher.stop()
print(json.dumps({"overflow": got_overflow.is_set(), "route_events_after": RouteChange.__name__ in seen[seen.index("Overflow"):] if "Overflow" in seen else False}))
