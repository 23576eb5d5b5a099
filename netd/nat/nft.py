"""netd's nftables table in the kernel: apply it atomically, look for it, and read the uplink.

`apply_ruleset` checks the text with `nft -c -f -` before `nft -f -`, so a bad
ruleset never reaches the kernel; every failure becomes one line naming the fix.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
from ipaddress import IPv4Address, IPv4Interface
from pathlib import Path

from pyroute2 import IPRoute

from foundation.errors import ApplianceError, EnvironmentProblem
from netd.nat.render import TABLE_FAMILY, TABLE_NAME, TRAFFIC_SETS, UplinkState

IP_FORWARD = Path("/proc/sys/net/ipv4/ip_forward")


def nft_binary() -> str:
    """Path of `nft`; EnvironmentProblem naming the package if it is missing."""
    path = shutil.which("nft")
    if path is None:
        raise EnvironmentProblem("nft not found: netd's NAT needs nftables — install it: apt install nftables")
    return path


def apply_ruleset(text: str) -> None:
    """Check `text` with `nft -c -f -`, then apply it with `nft -f -` (one atomic transaction)."""
    nft = nft_binary()
    for args in ([nft, "-c", "-f", "-"], [nft, "-f", "-"]):
        done = subprocess.run(args, input=text, capture_output=True, text=True, timeout=30)
        if done.returncode != 0:
            raise _nft_failure(done.stderr, check=args[1] == "-c")


def _nft_failure(stderr: str, check: bool) -> ApplianceError:
    detail = " ".join(stderr.split())[:300]
    lowered = stderr.lower()
    if "operation not supported" in lowered or "protocol not supported" in lowered:
        return EnvironmentProblem(
            f"the kernel lacks nftables ({detail}) — load nf_tables (modprobe nf_tables nft_masq "
            "nft_ct) or use a kernel with CONFIG_NF_TABLES"
        )
    if "operation not permitted" in lowered:
        return EnvironmentProblem(f"nft was refused ({detail}) — netd's NAT must run as root (CAP_NET_ADMIN)")
    stage = "check (nft -c)" if check else "apply (nft -f)"
    return ApplianceError(f"nftables {stage} of table {TABLE_FAMILY} {TABLE_NAME} failed: {detail}")


def table_present() -> bool:
    """Whether netd's table exists in this network namespace."""
    done = subprocess.run(
        [nft_binary(), "list", "table", TABLE_FAMILY, TABLE_NAME], capture_output=True, text=True, timeout=30
    )
    return done.returncode == 0


def enable_forwarding() -> None:
    """Turn IPv4 forwarding on in this network namespace."""
    try:
        if IP_FORWARD.read_text().strip() != "1":
            IP_FORWARD.write_text("1\n")
    except OSError as error:
        raise EnvironmentProblem(
            f"cannot turn IPv4 forwarding on ({IP_FORWARD}: {error.strerror}) — run netd as root"
        ) from None


def read_uplink(name: str) -> UplinkState:
    """The uplink's current index, state and addresses (a fresh netlink socket, closed after)."""
    with IPRoute() as ipr:
        found = ipr.link_lookup(ifname=name)
        if not found:
            return UplinkState(name, None, False, ())
        index = int(found[0])
        link = ipr.link("get", index=index)[0]
        addresses = []
        for msg in ipr.addr("dump", family=socket.AF_INET):
            if msg["index"] == index:
                local = msg.get_attr("IFA_LOCAL") or msg.get_attr("IFA_ADDRESS")
                addresses.append(IPv4Interface(f"{local}/{msg['prefixlen']}"))
        return UplinkState(name, index, bool(link["flags"] & 1), tuple(sorted(addresses)))


def parse_set_counters(text: str) -> dict[IPv4Address, int]:
    """Bytes per address from `nft -j list set …` of a set with counters; {} for anything unexpected."""
    try:
        document = json.loads(text)
    except ValueError:
        return {}
    counted: dict[IPv4Address, int] = {}
    items = document.get("nftables") if isinstance(document, dict) else None
    for item in items if isinstance(items, list) else []:
        found = item.get("set") if isinstance(item, dict) else None
        elements = found.get("elem") if isinstance(found, dict) else None
        for element in elements if isinstance(elements, list) else []:
            inner = element.get("elem") if isinstance(element, dict) else None
            if not isinstance(inner, dict):
                continue
            counter = inner.get("counter")
            count = counter.get("bytes") if isinstance(counter, dict) else None
            try:
                address = IPv4Address(inner.get("val"))  # type: ignore[arg-type]
            except ValueError:
                continue
            if isinstance(count, int) and not isinstance(count, bool) and count >= 0:
                counted[address] = counted.get(address, 0) + count
    return counted


def read_traffic() -> tuple[dict[IPv4Address, int], dict[IPv4Address, int]]:
    """Bytes forwarded (out to the uplink by source, in from it by destination) per address."""
    counts = []
    for name in TRAFFIC_SETS:
        done = subprocess.run([nft_binary(), "-j", "list", "set", TABLE_FAMILY, TABLE_NAME, name],
                              capture_output=True, text=True, timeout=30)
        counts.append(parse_set_counters(done.stdout) if done.returncode == 0 else {})
    return counts[0], counts[1]
