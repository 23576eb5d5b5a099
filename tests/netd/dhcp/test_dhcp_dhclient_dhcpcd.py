"""ISC dhclient and dhcpcd against `appliance netd run --only dhcp`, each in its own namespace.

Every client file lives in the test's temp dir: dhclient gets -sf/-lf/-pf/-cf; dhcpcd runs in
the private mount namespace `ip netns exec` makes, with our temp dirs bind-mounted over
/run/dhcpcd and /var/lib/dhcpcd, and `-c` pointing at our hook script (no system hooks run).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from netd.dhcp.leases import BOUND, RELEASED
from tests.netd.dhcp.clients import journal_records, write_script
from tests.netd.dhcp.lan import Lan, client_mac
from tests.support.netns import Process
from tests.support.wait import log_size, wait_for, wait_for_line

pytestmark = pytest.mark.root
CONFIG = "  dhcp_range: [10.0.0.10, 10.0.0.200]\n  lease_time: 10\n"
DHCLIENT_CONF = """send host-name "isc-pi";
request subnet-mask, broadcast-address, routers, domain-name-servers, domain-name, host-name;
timeout 30;
retry 1;
"""



class Dhclient:
    def __init__(self, lan: Lan, ns: str, workdir: Path) -> None:
        self.lan, self.ns = lan, ns
        self.events = workdir / f"{ns}-dhclient.events"
        self.out = workdir / f"{ns}-dhclient.out"
        self.conf = workdir / "dhclient.conf"
        self.conf.write_text(DHCLIENT_CONF)
        self.files = ["-sf", str(write_script(workdir, self.events, configure=True)), "-lf", str(workdir / f"{ns}.leases"),
                      "-pf", str(workdir / f"{ns}.pid"), "-cf", str(self.conf)]
        self.env = {"DHCPT_LOG": str(self.events), "DHCPT_CONFIGURE": "1"}

    def start(self) -> Process:
        return self.lan.spawn(self.ns, ["dhclient", "-4", "-d", "-v", *self.files, "eth0"],
                              self.out, env=self.env)

    def release(self) -> None:
        result = self.lan.ns_run(self.ns, "dhclient", "-4", "-r", "-v", *self.files, "eth0", env=self.env)
        assert "DHCPRELEASE" in result.stderr, result.stderr


def test_dhclient_obtain_renew_release_reboot(lan: Lan, tmp_path: Path) -> None:
    lan.start_server(lan.write_config(CONFIG))
    ns = lan.add_client(1)
    client = Dhclient(lan, ns, tmp_path)
    client.start()
    address = wait_for_line(client.events, r"^BOUND ip=(\S+)", 30).group(1)
    assert address == "10.0.0.10"
    bound = [r for r in journal_records(lan.state_dir) if r.mac.hex(":") == client_mac(1)]
    assert bound[-1].state == BOUND and bound[-1].hostname == "isc-pi"
    # T1 = 5 s: dhclient renews by unicast on its own.
    mark = log_size(client.events)
    assert wait_for_line(client.events, r"^RENEW ip=(\S+)", 20, mark).group(1) == address
    client.release()
    assert journal_records(lan.state_dir)[-1].state == RELEASED
    # Restart: INIT-REBOOT from its lease file, ACKed with the same address.
    mark = log_size(client.events)
    client.start()
    assert wait_for_line(client.events, r"^(?:REBOOT|BOUND) ip=(\S+)", 30, mark).group(1) == address
    assert "DHCPREQUEST for 10.0.0.10" in client.out.read_text()
    assert "DHCPNAK" not in client.out.read_text()


def test_dhclient_init_reboot_for_another_subnet_is_naked(lan: Lan, tmp_path: Path) -> None:
    lan.start_server(lan.write_config(CONFIG))
    ns = lan.add_client(2)
    (tmp_path / f"{ns}.leases").write_text("""lease {
  interface "eth0";
  fixed-address 192.0.2.50;
  option subnet-mask 255.255.255.0;
  option dhcp-server-identifier 192.0.2.1;
  renew 4 2037/01/01 00:00:00;
  rebind 4 2037/01/01 00:00:00;
  expire 4 2037/01/01 00:00:00;
}
""")
    client = Dhclient(lan, ns, tmp_path)
    client.start()
    address = wait_for_line(client.events, r"^BOUND ip=(\S+)", 40).group(1)
    output = client.out.read_text()
    assert "DHCPREQUEST for 192.0.2.50" in output and "DHCPNAK from 10.0.0.1" in output
    assert address.startswith("10.0.0.")


def dhcpcd_command(workdir: Path, ns: str, *args: str) -> list[str]:
    """sh that mounts our dirs over dhcpcd's, then runs dhcpcd (in the netns' own mount ns)."""
    run = workdir / f"{ns}-run"
    db = workdir / f"{ns}-db"
    run.mkdir(exist_ok=True)
    db.mkdir(exist_ok=True)
    script = (f"mkdir -p /run/dhcpcd && mount --bind {run} /run/dhcpcd && "
              f"mount --bind {db} /var/lib/dhcpcd && exec dhcpcd {' '.join(args)}")
    return ["sh", "-c", script]


def test_dhcpcd_obtain_renew_reboot_release(lan: Lan, tmp_path: Path) -> None:
    lan.start_server(lan.write_config(CONFIG))
    ns = lan.add_client(3)
    conf = tmp_path / "dhcpcd.conf"
    # Debian's shipped dhcpcd.conf (DUID client-id, rapid commit asked for), IPv4 only.
    conf.write_text("duid\npersistent\nvendorclassid\noption domain_name_servers, domain_name\n"
                    "option host_name\noption rapid_commit\nrequire dhcp_server_identifier\n"
                    "ipv4only\nnoipv6rs\nhostname dhcpcd-pi\n")
    events = tmp_path / f"{ns}-dhcpcd.events"
    hook = write_script(tmp_path, events)
    env = {"DHCPT_LOG": str(events)}
    args = ("-B", "-4", "-f", str(conf), "-c", str(hook), "-j", str(tmp_path / f"{ns}-dhcpcd.log"), "eth0")
    daemon = lan.spawn(ns, dhcpcd_command(tmp_path, ns, *args), tmp_path / f"{ns}-dhcpcd.out", env=env)
    address = wait_for_line(events, r"^BOUND ip=(\S+)", 40).group(1)
    assert address == "10.0.0.10"
    records = [r for r in journal_records(lan.state_dir) if r.address == 0x0A00000A]
    assert records[-1].client_id is not None  # dhcpcd identifies itself by a DUID (RFC 4361)
    assert records[-1].hostname == "dhcpcd-pi"
    # dhcpcd renews at T1 (5 s) on its own.
    mark = log_size(events)
    assert wait_for_line(events, r"^RENEW ip=(\S+)", 20, mark).group(1) == address
    # Stop without releasing, start again: INIT-REBOOT from its lease file, same address.
    subprocess.run(["nsenter", "-t", str(daemon.pid), "-m", "-n", "dhcpcd", "-4", "-x", "eth0"],
                   check=True, capture_output=True, timeout=30)
    daemon.popen.wait(timeout=20)
    mark = log_size(events)
    daemon = lan.spawn(ns, dhcpcd_command(tmp_path, ns, *args), tmp_path / f"{ns}-dhcpcd.out", env=env)
    assert wait_for_line(events, r"^(?:REBOOT|BOUND) ip=(\S+)", 40, mark).group(1) == address
    # Release.
    mark = log_size(events)
    subprocess.run(["nsenter", "-t", str(daemon.pid), "-m", "-n", "dhcpcd", "-4", "-k", "eth0"],
                   check=True, capture_output=True, timeout=30)
    wait_for_line(events, r"^(?:RELEASE|STOP)", 20, mark)
    assert "releasing lease of 10.0.0.10" in (tmp_path / f"{ns}-dhcpcd.log").read_text()
    wait_for(lambda: [r.state for r in journal_records(lan.state_dir) if r.address == 0x0A00000A][-1] == RELEASED,
             10, what="the release of 10.0.0.10 on disk")
