"""Turning swap off for the kubelet, returned as data (file edits and commands).

The kubelet refuses to start with swap on unless configured for it
(failSwapOn: false). Raspberry Pi OS manages swap two ways:

- trixie and later: the `rpi-swap` package, a systemd generator configured by
  swap.conf(5); `[Main]` `Mechanism=none` disables it. The configuration is
  read the systemd way (`rpi-systemd-config rpi/swap.conf`, like journald.conf):
  /etc/rpi/swap.conf, overridden by drop-ins in /etc/rpi/swap.conf.d/. A drop-in
  of our own therefore works whether or not the admin has a swap.conf, and
  never rewrites theirs. The generator only runs at boot, so `swapoff -a`
  turns the running swap off now and the drop-in keeps it off after reboots.
- bookworm and earlier: `dphys-swapfile` (a swap file under /var), stopped,
  deleted and disabled with its own commands plus systemctl.

`plan_swap_off` is pure: facts in, a `SwapPlan` out; running it is the
provisioner's job. A node that is already right gets an empty plan.
"""

from __future__ import annotations

from dataclasses import dataclass, field

RPI_SWAP_DROPIN = "/etc/rpi/swap.conf.d/90-appliance-noswap.conf"
RPI_SWAP_DROPIN_TEXT = "# Written by the appliance: the kubelet needs swap off.\n[Main]\nMechanism=none\n"


@dataclass(frozen=True)
class FileEdit:
    """Write `content` to `path` (whole file)."""

    path: str
    """Absolute path on the node."""
    content: str
    """The complete new content."""


@dataclass(frozen=True)
class SwapFacts:
    """What the provisioner found on the node (each from a fact command)."""

    active_swaps: tuple[str, ...]
    """Devices/files listed in /proc/swaps."""
    rpi_swap: bool
    """True when rpi-swap is installed (its systemd generator exists)."""
    rpi_swap_dropin: str | None
    """Text of our drop-in RPI_SWAP_DROPIN, None when absent."""
    dphys_swapfile: bool
    """True when dphys-swapfile is installed (its /etc/dphys-swapfile exists)."""
    dphys_enabled: bool = True
    """True when dphys-swapfile.service is enabled (systemctl is-enabled)."""


@dataclass(frozen=True)
class SwapPlan:
    """What to change so that swap is off now and after reboots."""

    edits: tuple[FileEdit, ...] = ()
    """Files to write."""
    commands: tuple[tuple[str, ...], ...] = ()
    """argv lists to run, in order, after the edits."""
    notes: tuple[str, ...] = field(default_factory=tuple)
    """Why each step is there, or why nothing is needed."""

    @property
    def empty(self) -> bool:
        """True when the node is already right."""
        return not self.edits and not self.commands


def plan_swap_off(facts: SwapFacts) -> SwapPlan:
    """The edits and commands that turn swap off for good on this node."""
    edits: list[FileEdit] = []
    commands: list[tuple[str, ...]] = []
    notes: list[str] = []
    if facts.rpi_swap and facts.rpi_swap_dropin != RPI_SWAP_DROPIN_TEXT:
        edits.append(FileEdit(RPI_SWAP_DROPIN, RPI_SWAP_DROPIN_TEXT))
        notes.append("rpi-swap: a drop-in with Mechanism=none keeps swap off from the next boot on")
    if facts.dphys_swapfile and (facts.dphys_enabled or facts.active_swaps):
        commands += [
            ("dphys-swapfile", "swapoff"),
            ("dphys-swapfile", "uninstall"),
            ("systemctl", "disable", "--now", "dphys-swapfile.service"),
        ]
        notes.append("dphys-swapfile: swap file removed and the service disabled")
    if facts.active_swaps:
        commands.append(("swapoff", "-a"))
        notes.append(f"swapoff -a turns off {', '.join(facts.active_swaps)} now")
    if not edits and not commands:
        notes.append("swap is already off and stays off")
    return SwapPlan(tuple(edits), tuple(commands), tuple(notes))
