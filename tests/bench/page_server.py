"""The master's page alone, for bench_master: a registry of 16 workers and the page on a loopback port.

    python -m tests.bench.page_server waitress|werkzeug STATE_DIR PASSWORD_HASH PORT_FILE

Writes the port it listens on into PORT_FILE, then serves until killed.
"""

from __future__ import annotations

import sys
import time
from ipaddress import IPv4Address
from pathlib import Path

from appliance.master.actions import MasterActions
from appliance.web import create_app
from foundation import registry
from foundation.config.model import Config, WebSection
from foundation.records import LeaseChange, LeaseEvent

kind, state, password_hash, port_file = sys.argv[1], Path(sys.argv[2]), sys.argv[3], Path(sys.argv[4])
conn = registry.open_registry(state)
registry.ensure_master(conn, name="master", address=IPv4Address("10.0.0.1"),
                       pod_cidr=Config().kubernetes.pod_cidr, node_cidr_mask=24, now=time.time())
for n in range(1, 17):
    registry.record_lease_event(conn, LeaseEvent(LeaseChange.GRANTED, IPv4Address(f"10.0.0.{n + 10}"),
        f"dc:a6:32:00:00:{n:02x}", None, f"node-{n}", f"pi-{n}", time.time() + 600),
        pod_cidr=Config().kubernetes.pod_cidr, node_cidr_mask=24, now=time.time())
    registry.append_event(conn, kind="bench", node=f"node-{n}", message=f"node-{n} joined", now=time.time())
actions = MasterActions(config=Config(web=WebSection(admin_password_hash=password_hash)), state_dir=state,
                        uplink_address=lambda: "192.0.2.2")
app = create_app({"APPLIANCE_ACTIONS": actions})
if kind == "waitress":
    from appliance.master.web_server import WEB_THREADS
    from netd.api.server import WsgiServer, tcp_listener
    listener = tcp_listener("127.0.0.1", 0)
    port_file.write_text(str(listener.getsockname()[1]))
    WsgiServer(app, [listener], name="web", threads=WEB_THREADS).start()
    while True:
        time.sleep(3600)
else:
    from werkzeug.serving import make_server
    server = make_server("127.0.0.1", 0, app, threaded=True)
    port_file.write_text(str(server.socket.getsockname()[1]))
    server.serve_forever()
