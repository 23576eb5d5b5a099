"""A storm of garbage and of one client's DISCOVERs: dropped and counted, service goes on."""

from __future__ import annotations

import ast
import re
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from dhcpt_clients import run_udhcpc_once
from dhcpt_lab import PYTHON, Lab

pytestmark = pytest.mark.root

FLOOD = r"""
import os, random, socket, sys
sys.path.insert(0, sys.argv[1])
from dhcpt_packets import client_packet, mac
from netd.dhcp import options as opt
random.seed(7)
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
valid = client_packet(opt.DISCOVER, mac(1)).to_wire()
for n in range(1500):
    data = bytearray(valid)
    for _ in range(random.randint(1, 20)):
        data[random.randrange(len(data))] = random.randrange(256)
    cut = random.choice([len(data), random.randrange(0, 300)])
    sock.sendto(bytes(data[:cut]) if n % 3 else os.urandom(random.randrange(1, 600)),
                ("10.0.0.1", 67))
for n in range(400):  # one MAC hammering
    sock.sendto(client_packet(opt.DISCOVER, mac(0x77), xid=n).to_wire(), ("10.0.0.1", 67))
"""


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    lab = Lab(tmp_path, "f")
    try:
        yield lab
    finally:
        lab.close()


def test_garbage_and_floods_are_dropped_and_counted(lab: Lab, tmp_path: Path) -> None:
    lab.start_server(lab.write_config("  dhcp_range: [10.0.0.10, 10.0.0.200]\n"))
    flooder = lab.add_client(99)
    lab.ns_run(flooder, "ip", "addr", "add", "10.0.0.99/24", "dev", "eth0")
    lab.ns_run(flooder, PYTHON, "-c", FLOOD, str(Path(__file__).parent), timeout=60)
    client = lab.add_client(1)
    result = run_udhcpc_once(lab, client, tmp_path)
    assert result.returncode == 0 and "obtained" in result.stderr, result.stderr
    assert lab.kill_server(signal.SIGTERM) == 0
    counters = re.search(r"DHCP counters: (\{.*?\})", lab.server_output())
    assert counters is not None, lab.server_output()
    values = ast.literal_eval(counters.group(1))
    assert values["malformed"] > 100
    assert values["rate_limited"] > 100
    assert values.get("errors", 0) == 0
    assert "Traceback" not in lab.server_output()
