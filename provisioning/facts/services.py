"""Service facts: systemd's view of the units provisioning manages (one `systemctl show` call)."""

from __future__ import annotations

from dataclasses import dataclass

from provisioning.facts import script as s

UNITS = ("containerd.service", "kubelet.service", "appliance-agent.service", "dphys-swapfile.service")
"""Units whose state the plans look at (dphys-swapfile for the swap plan of older Pi OS)."""

SECTIONS = (
    s.command("units", "systemctl show --no-pager -p Id,LoadState,UnitFileState,ActiveState "
                       + " ".join(UNITS)),
)


@dataclass(frozen=True)
class UnitState:
    """One unit as systemd reports it."""

    loaded: bool
    """True when systemd found the unit file (LoadState=loaded)."""
    enabled: bool
    """True when it starts at boot (UnitFileState enabled, enabled-runtime, static or alias)."""
    active: bool
    """True when it runs now (ActiveState=active, or reloading/activating)."""


MISSING = UnitState(False, False, False)


def parse_show(text: str) -> dict[str, UnitState]:
    """`systemctl show -p …` output: blocks of KEY=value separated by blank lines, one per unit."""
    units: dict[str, UnitState] = {}
    for block in text.split("\n\n"):
        values = dict(line.partition("=")[::2] for line in block.splitlines() if "=" in line)
        name = values.get("Id", "").strip()
        if not name or name in units:
            continue
        units[name] = UnitState(
            loaded=values.get("LoadState", "").strip() == "loaded",
            enabled=values.get("UnitFileState", "").strip() in ("enabled", "enabled-runtime", "static", "alias"),
            active=values.get("ActiveState", "").strip() in ("active", "reloading", "activating"),
        )
    return units


def parse(raw: dict[str, str]) -> dict[str, UnitState]:
    """Every unit of UNITS (MISSING when systemd did not report it)."""
    found = parse_show(raw.get("units", ""))
    return {unit: found.get(unit, MISSING) for unit in UNITS}
