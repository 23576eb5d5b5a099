"""Facts: what a node is and has, read in one round trip (`read_facts`), parsed by pure functions.

Each area module declares its `SECTIONS` (read-only shell lines) and a
`parse(raw) -> …Facts` over the gathered text; `read_facts` runs all of them
as one script over a connector. Parsers trust nothing: malformed or missing
output gives "absent"/None values, never an exception, and the operations
that use them decide what that means.
"""

from __future__ import annotations

from dataclasses import dataclass

from provisioning.connector import ConnectError, Connector
from provisioning.facts import kernel, packages, script, services, state, system
from provisioning.facts.kernel import KernelFacts
from provisioning.facts.packages import PackageFacts
from provisioning.facts.services import UnitState
from provisioning.facts.state import StateFacts
from provisioning.facts.system import SystemFacts

SECTIONS: tuple[script.Section, ...] = (
    *system.SECTIONS, *kernel.SECTIONS, *packages.SECTIONS, *services.SECTIONS, *state.SECTIONS,
)

FACTS_TIMEOUT = 60.0
"""Seconds the fact script may take (it only reads; a healthy node answers in well under one)."""

SUDO_REFUSED = ("a password is required", "a terminal is required", "is not in the sudoers",
                "may not run sudo")


@dataclass(frozen=True)
class NodeFacts:
    """Everything the operations compare against."""

    system: SystemFacts
    """Architecture, OS, hostname, boot files, memory cgroup."""
    kernel: KernelFacts
    """Modules, sysctls, swap."""
    packages: PackageFacts
    """Installed packages, holds, the Kubernetes apt source."""
    units: dict[str, UnitState]
    """systemd units by name."""
    state: StateFacts
    """What earlier runs and kubeadm left."""


def parse_facts(raw: dict[str, str]) -> NodeFacts:
    """NodeFacts from the sections of one gather."""
    return NodeFacts(system.parse(raw), kernel.parse(raw), packages.parse(raw),
                     services.parse(raw), state.parse(raw))


def read_facts(connector: Connector) -> NodeFacts:
    """Run the fact script once (as root) and parse it; ConnectError when the node cannot run it."""
    boundary = script.new_boundary()
    result = connector.run("sh -s", sudo=True, timeout=FACTS_TIMEOUT,
                           stdin=script.build_script(SECTIONS, boundary).encode())
    if any(phrase in result.stderr for phrase in SUDO_REFUSED):
        raise ConnectError(connector.host, (
            "sudo refused to run without a password; the provisioning user needs "
            "`USER ALL=(ALL) NOPASSWD:ALL` in /etc/sudoers.d/ (the appliance's images have it)"))
    raw = script.split_output(result.stdout, boundary)
    if "machine" not in raw or not raw["machine"].strip():
        detail = (result.stderr.strip().splitlines() or ["no output"])[-1][:160]
        raise ConnectError(connector.host, f"reading facts failed (exit {result.exit_status}: {detail}); "
                                           "the node needs a POSIX sh and coreutils")
    return parse_facts(raw)
