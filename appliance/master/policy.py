"""The daemon's pure policies: which new node to approve, which to forget, which shows offline.

Each takes plain values and an explicit `now` and returns a decision; the
daemon carries them out. Nothing here reads the clock or the registry.
"""

from __future__ import annotations

from dataclasses import dataclass

from hardware.models import MalformedMac, is_raspberry_pi_mac

APPROVE_POLICIES = ("manual", "raspberry-pi", "all")
"""The values of `provisioning.approve`."""


def auto_approves(policy: str, mac: str | None) -> bool:
    """Whether a newly discovered node with hardware address `mac` is approved without a person.

    `manual`: never (the page or `appliance nodes approve`); `raspberry-pi`: when the MAC's
    prefix is one of Raspberry Pi's; `all`: always. A node without a MAC (a client-id only)
    is approved only under `all`.
    """
    if policy == "all":
        return True
    if policy == "raspberry-pi" and mac is not None:
        try:
            return is_raspberry_pi_mac(mac)
        except MalformedMac:
            return False
    return False


@dataclass(frozen=True)
class ForgetCandidate:
    """What the forget schedule needs to know of one node."""

    name: str
    """Node name."""
    discovered: bool
    """Still in state discovered (never approved)."""
    master: bool
    """The master itself (never forgotten)."""
    lease_active: bool
    """It holds a lease that has not ended."""
    lease_ended: float | None
    """Unix time its last lease ended (released, expired or declined), None if it never had one."""
    last_seen: float
    """Unix time it was last heard from."""


def due_for_forgetting(nodes: list[ForgetCandidate], now: float, forget_after: float) -> list[str]:
    """Names of discovered, never-approved nodes whose lease lapsed `forget_after` seconds ago.

    Forgetting returns their pod slice and name, so devices with random MACs (phones, laptops
    plugged into the cluster switch) cannot use up the pod network. A node that holds an
    active lease, was approved, or is the master is never forgotten by the schedule.
    """
    due = []
    for node in nodes:
        if node.master or not node.discovered or node.lease_active:
            continue
        ended = node.lease_ended if node.lease_ended is not None else node.last_seen
        if now - max(ended, node.last_seen) >= forget_after:
            due.append(node.name)
    return sorted(due)


def is_offline(*, has_agent: bool, lease_active: bool, last_heard: float, now: float,
               offline_after: float) -> bool:
    """Whether a node shows offline.

    A node with an agent reports every few seconds: it is offline once nothing was heard for
    `offline_after`. A node without one is heard only at DHCP renewals (every half lease), so
    it is offline when it holds no active lease.
    """
    if has_agent:
        return now - last_heard > offline_after
    return not lease_active


INIT_RETRY_FIRST = 60.0
"""Seconds after the master's first failed init before it is tried again."""
INIT_RETRY_MAX = 900.0
"""Longest wait between two tries of the master's init."""


def init_retry_due(failures: int, last_finished: float | None, now: float) -> bool:
    """Whether the master's own plan (kubeadm init) should be tried again.

    A master's first boot often fails for a passing reason (the Wi-Fi is not up yet, the
    package mirror does not answer), so a failed init is retried after 1, 2, 4 … minutes,
    at most every 15 minutes, until it succeeds; `failures` counts the failed tries in a row.
    """
    if failures == 0 or last_finished is None:
        return True
    wait = min(INIT_RETRY_FIRST * 2 ** (failures - 1), INIT_RETRY_MAX)
    return now - last_finished >= wait
