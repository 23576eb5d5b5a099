"""Master benchmark: the page under load, the daemon's memory, and the lab coming up on the page.

    sudo .venv/bin/python tests/bench/bench_master.py [--skip-lab] [--requests 100]

Figures, each beside its anchor in the same run:
1. Page response times (median, p99) and throughput under 20 concurrent clients, for `/`, `/nodes` and
   `/api/v1/nodes` of a registry with 16 workers, logged in: the page on waitress (as `master run`
   serves it) beside the same app on werkzeug's threaded development server (what the agent API ran
   on before). Server in its own process, clients in this one, over loopback.
2. The daemon's memory (RSS, PSS) with 16 nodes: `appliance master run` beside `appliance netd run`
   (its network services alone), both in the same namespaces with the same registry.
3. `lab up --nodes 4` and `--nodes 16` until every board is on the page (in the daemon's registry,
   read through its local API) and until every board is Ready (only with the Kubernetes fake in the
   build and provisioning.approve all; otherwise reported as not reached).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from ipaddress import IPv4Address
from pathlib import Path

if __name__ == "__main__" and not __package__:
    # Run by path (python tests/bench/bench_master.py): run again as `python -m tests.bench.bench_master`
    # from the checkout, the form that imports the tests' kit (tests.support).
    os.chdir(Path(__file__).resolve().parents[2])
    os.execv(sys.executable, [sys.executable, "-m", "tests.bench.bench_master", *sys.argv[1:]])

from tests.support.netns import NetnsKit
from tests.support.paths import REPO

CLIENTS = 20
PATHS = ("/", "/nodes", "/api/v1/nodes")



def crypt_hash(password: str) -> str:
    return subprocess.run(["openssl", "passwd", "-6", "-stdin"], input=password, capture_output=True,
                          text=True, check=True).stdout.strip()


def log_in(port: int, password: str) -> str:
    """A session cookie, logging in like a browser (CSRF token from the form)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/login")
    response = conn.getresponse()
    page = response.read().decode()
    cookie = response.getheader("Set-Cookie", "").split(";")[0]
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    assert token, "no CSRF token on /login"
    body = f"csrf_token={token.group(1)}&password={password}"
    conn.request("POST", "/login", body=body, headers={
        "Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie})
    response = conn.getresponse()
    response.read()
    assert response.status == 302, response.status
    return response.getheader("Set-Cookie", "").split(";")[0]


def load(port: int, cookie: str, path: str, requests: int) -> tuple[list[float], float, int]:
    """CLIENTS threads, each `requests` GETs on a fresh connection; (latencies, seconds, errors)."""
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()

    def client() -> None:
        mine = []
        for _ in range(requests):
            started = time.perf_counter()
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                conn.request("GET", path, headers={"Cookie": cookie})
                response = conn.getresponse()
                response.read()
                conn.close()
                if response.status != 200:
                    raise OSError(response.status)
            except OSError:
                with lock:
                    errors[0] += 1
                continue
            mine.append(time.perf_counter() - started)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, time.perf_counter() - started, errors[0]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def bench_page(requests: int) -> None:
    print(f"\n1. page under {CLIENTS} concurrent clients, {requests} requests each, registry of 16 workers")
    print(f"{'server':<26}{'path':<16}{'median ms':>10}{'p99 ms':>10}{'req/s':>9}{'errors':>8}")
    password = "bench-password"
    password_hash = crypt_hash(password)
    for kind, label in (("waitress", "waitress (master run)"), ("werkzeug", "werkzeug dev server")):
        with tempfile.TemporaryDirectory() as state:
            port_file = Path(state) / "port"
            proc = subprocess.Popen([sys.executable, "-m", "tests.bench.page_server", kind, state, password_hash,
                                     str(port_file)], cwd=REPO, stderr=subprocess.DEVNULL)
            try:
                deadline = time.monotonic() + 20
                while not port_file.exists() or not port_file.read_text():
                    if time.monotonic() > deadline or proc.poll() is not None:
                        raise SystemExit(f"the {kind} server did not start")
                    time.sleep(0.05)
                port = int(port_file.read_text())
                cookie = log_in(port, password)
                load(port, cookie, "/", 2)  # warm up
                for path in PATHS:
                    latencies, seconds, errors = load(port, cookie, path, requests)
                    print(f"{label:<26}{path:<16}{statistics.median(latencies) * 1000:>10.1f}"
                          f"{percentile(latencies, 0.99) * 1000:>10.1f}{len(latencies) / seconds:>9.0f}{errors:>8}")
            finally:
                proc.terminate()
                proc.wait(timeout=10)


def memory_kib(pid: int) -> tuple[int, int]:
    """(RSS, PSS) of one process from smaps_rollup."""
    fields = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        name, _, rest = line.partition(":")
        fields[name] = int(rest.split()[0])
    return fields["Rss"], fields["Pss"]


def bench_memory() -> None:
    from foundation import registry
    from foundation.config.model import Config
    from foundation.records import LeaseChange, LeaseEvent

    print("\n2. daemon memory with 16 nodes (after 15 s of running)")
    print(f"{'daemon':<34}{'RSS MiB':>10}{'PSS MiB':>10}")
    appliance = str(Path(sys.executable).with_name("appliance"))
    for command in (["master", "run"], ["netd", "run"]):
        with tempfile.TemporaryDirectory() as tmp:
            net = NetnsKit(Path(tmp) / "net")
            try:
                master, home = net.ns("bm"), net.ns("bh")
                net.veth(master, "eth0", home, "lan0")
                net.veth(master, "wlan0", home, "eth0")
                net.ip(master, "addr", "add", "192.0.2.2/24", "dev", "wlan0")
                config = Path(tmp) / "cluster.yaml"
                config.write_text(json.dumps({
                    "network": {"lan_interface": "eth0", "uplink_interface": "wlan0", "upstream_dns": ["192.0.2.1"]},
                    "web": {"admin_password_hash": crypt_hash("x")}}))
                state = Path(tmp) / "state"
                state.mkdir()
                conn = registry.open_registry(state)
                for n in range(1, 17):
                    registry.record_lease_event(conn, LeaseEvent(
                        LeaseChange.GRANTED, IPv4Address(f"10.0.0.{n + 10}"), f"dc:a6:32:00:01:{n:02x}", None,
                        f"node-{n}", None, time.time() + 600),
                        pod_cidr=Config().kubernetes.pod_cidr, node_cidr_mask=24, now=time.time())
                conn.close()
                proc = net.spawn(master, [appliance, *command, "--config", str(config), "--state-dir", str(state)],
                                 log=Path(tmp) / "log").popen
                time.sleep(15)
                if proc.poll() is not None:
                    raise SystemExit(f"{' '.join(command)} died: {(Path(tmp) / 'log').read_text()[-500:]}")
                rss, pss = memory_kib(proc.pid)
                print(f"appliance {' '.join(command):<24}{rss / 1024:>10.1f}{pss / 1024:>10.1f}")
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=60)
            finally:
                net.close()


def bench_lab(sizes: list[int], ready_timeout: float) -> None:
    """`lab up` with approve: all until every board is on the page, answers SSH, and is Ready."""
    import yaml

    from appliance.cli.daemon_client import DaemonClient
    from hardware.lab import lifecycle
    from hardware.lab import topology as t
    from hardware.lab.imaging import seed_boards
    from hardware.lab.master_config import default_config
    from hardware.lab.state import default_dirs, ensure_key
    from provisioning.node_access import provisioning_key

    print("\n3. lab up (dhcp addressing, approve: all) until every board is on the page, answers SSH, is Ready")
    print(f"{'boards':>7}{'on page s':>11}{'SSH s':>9}{'Ready s':>10}")
    for nodes in sizes:
        dirs = default_dirs()
        plan = t.make_plan(nodes, addressing="dhcp")
        config = default_config(plan, ensure_key(dirs), "bench")
        config["provisioning"]["approve"] = "all"
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "cluster.yaml"
            path.write_text(yaml.safe_dump(config, sort_keys=False))
            started = time.monotonic()
            lifecycle.up(dirs, nodes=nodes, addressing="dhcp", config=path, fresh=True, wait=0, say=lambda m: None)
        client = DaemonClient(dirs.master_state)
        workers = [node.name for node in plan.nodes]
        on_page = ssh = ready = None
        try:
            from hardware.lab.status import wait_for_ssh

            while on_page is None and time.monotonic() - started < 120:
                if sum(1 for view in client.nodes() if view.role == "worker") >= nodes:
                    on_page = time.monotonic() - started
                time.sleep(0.2)
            if not wait_for_ssh(plan, plan.nodes, timeout=180):
                ssh = time.monotonic() - started
            # What a flashed card holds (the master's key, the mirror); a real image needs no step here.
            seed_boards(dirs, [t.MASTER_BOARD, *workers], Path(f"{provisioning_key(dirs.master_state)}.pub").read_text())
            while time.monotonic() - started < ready_timeout:
                views = [view for view in client.nodes() if view.role == "worker"]
                if len(views) >= nodes and all(view.ready for view in views):
                    ready = time.monotonic() - started
                    break
                time.sleep(1.0)
        finally:
            lifecycle.down(dirs)
        nan = float("nan")
        print(f"{nodes:>7}{on_page or nan:>11.1f}{ssh or nan:>9.1f}{ready if ready is not None else nan:>10.1f}")
    print("static addressing: boards take fixed addresses and never ask the master, so it never learns of them;"
          " zero-touch join needs DHCP (not measured)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100, help="Requests per client and path.")
    parser.add_argument("--skip-lab", action="store_true", help="Skip the lab part (3).")
    parser.add_argument("--ready-timeout", type=float, default=1800.0, help="Seconds to wait for Ready.")
    parser.add_argument("--lab-sizes", default="4,16", help="Board counts for part 3.")
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root (namespaces, the lab)")
    bench_page(args.requests)
    bench_memory()
    if not args.skip_lab:
        bench_lab([int(n) for n in args.lab_sizes.split(",")], args.ready_timeout)


if __name__ == "__main__":
    main()
