"""Turning swap off for the kubelet, returned as data (file edits and commands).

The kubelet refuses to start with swap on unless configured for it
(failSwapOn: false). Raspberry Pi OS manages swap two ways:

- trixie and later: the `rpi-swap` package, a systemd generator configured by
  /etc/rpi/swap.conf (swap.conf(5)); `[Main]` `Mechanism=none` disables it.
  The generator only runs at boot, so `swapoff -a` turns the running swap off
  now and the setting keeps it off after the next reboot.
- bookworm and earlier: `dphys-swapfile` (a swap file under /var), stopped,
  deleted and disabled with its own commands plus systemctl.

`plan_swap_off` is pure: facts in, a `SwapPlan` out; running it is the
provisioner's job. A node that is already right gets an empty plan.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

RPI_SWAP_CONF = "/etc/rpi/swap.conf"


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
    rpi_swap_conf: str | None
    """Text of /etc/rpi/swap.conf, or None when rpi-swap is not installed."""
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


_SECTION = re.compile(r"^\s*\[([^\]]+)\]\s*$")


def set_ini_key(text: str, section: str, key: str, value: str) -> str:
    """Set `key=value` in `[section]` of a systemd-style INI file; unchanged text if already so.

    An existing key in that section is rewritten in place (commented-out
    defaults `#Key=...` are left alone); otherwise the key is added at the
    end of the section, or a new section is appended.
    """
    lines = text.split("\n")
    current: str | None = None
    last_in_section: int | None = None
    for index, line in enumerate(lines):
        header = _SECTION.match(line)
        if header:
            current = header.group(1).strip()
            if current == section:
                last_in_section = index
            continue
        if current != section:
            continue
        if line.strip():
            last_in_section = index
        name, sep, old = line.partition("=")
        if sep and name.strip() == key and not name.lstrip().startswith(("#", ";")):
            if old.strip() == value:
                return text
            lines[index] = f"{key}={value}"
            return "\n".join(lines)
    if last_in_section is not None:
        lines.insert(last_in_section + 1, f"{key}={value}")
        return "\n".join(lines)
    prefix = text if not text or text.endswith("\n") else text + "\n"
    return prefix + f"[{section}]\n{key}={value}\n"


def plan_swap_off(facts: SwapFacts) -> SwapPlan:
    """The edits and commands that turn swap off for good on this node."""
    edits: list[FileEdit] = []
    commands: list[tuple[str, ...]] = []
    notes: list[str] = []
    if facts.rpi_swap_conf is not None:
        wanted = set_ini_key(facts.rpi_swap_conf, "Main", "Mechanism", "none")
        if wanted != facts.rpi_swap_conf:
            edits.append(FileEdit(RPI_SWAP_CONF, wanted))
            notes.append("rpi-swap: Mechanism=none keeps swap off from the next boot on")
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
