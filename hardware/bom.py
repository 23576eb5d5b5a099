"""The parts list ("bill of materials") with a power budget.

The book's Appendix A list, brought up to date: 64-bit boards, quality SD
cards, one Ethernet cable per node, a switch with a spare port, a power
supply that really delivers what each board draws, and a case. Prices are
estimates in US dollars (list prices of the official parts and typical street
prices of the generic ones) as of `PRICES_AS_OF`; they change, so every
output carries the date.
"""

from __future__ import annotations

from dataclasses import dataclass

from foundation.errors import UsageError

PRICES_AS_OF = "2025-10"
MAX_NODES = 47  # the largest common unmanaged switch has 48 ports, one stays free


@dataclass(frozen=True)
class BoardSpec:
    """Everything the parts list needs to know about one board model."""

    key: str
    """CLI name: pi3, pi4, pi5."""
    board: str
    """What to buy."""
    board_price: float
    """Estimated price in USD."""
    watts: float
    """What the official supply for this board delivers, i.e. the budget per node."""
    supply: str
    """The official supply and its rating."""
    supply_price: float
    """Its estimated price in USD."""
    connector: str
    """Power connector on the board."""
    case: str
    """A case (and cooling) that suits it."""
    case_price: float
    """Case estimate in USD."""
    poe: str
    """The Power-over-Ethernet route, if any."""
    amps: float
    """Current at 5.1 V each board needs from a USB port."""
    charger_catch: str
    """What goes wrong with a generic multi-port charger."""


BOARDS: dict[str, BoardSpec] = {
    "pi5": BoardSpec(
        "pi5", "Raspberry Pi 5, 4 GB (8 GB for the master if you can)", 60.0,
        27.0, "Raspberry Pi 27 W USB-C PD supply (5.1 V 5 A)", 12.0, "USB-C",
        "Raspberry Pi 5 case with fan (or the Active Cooler)", 10.0,
        "PoE+ HAT for Pi 5 and an 802.3at (PoE+) switch, 30 W per port at the switch",
        5.0, "ordinary USB-C PD ports stop at 5 V 3 A, so a Pi 5 on them caps USB peripherals at 600 mA "
        "(fine for a headless node; set usb_max_current_enable=1 only with a 5 A supply)",
    ),
    "pi4": BoardSpec(
        "pi4", "Raspberry Pi 4 Model B, 4 GB (2 GB works for workers)", 55.0,
        15.0, "Raspberry Pi 15.3 W USB-C supply (5.1 V 3 A)", 8.0, "USB-C",
        "Raspberry Pi 4 case (add a heatsink or fan case for sustained load)", 5.0,
        "Raspberry Pi PoE+ HAT and an 802.3at (PoE+) switch, 30 W per port at the switch",
        3.0, "many multi-port chargers share one limit across ports and sag under load",
    ),
    "pi3": BoardSpec(
        "pi3", "Raspberry Pi 3 Model B+, 1 GB (worker only: too little RAM for the master)", 35.0,
        12.5, "Raspberry Pi 12.5 W micro-USB supply (5.1 V 2.5 A)", 8.0, "micro-USB",
        "Raspberry Pi 3 case", 5.0,
        "Raspberry Pi PoE HAT (802.3af) and a PoE switch, 15.4 W per port at the switch",
        2.5, "the book's 6-port USB charger worked for Pi 2s; a Pi 3B+ needs 2.5 A on every port at once",
    ),
}

SWITCH_SIZES = ((5, 20.0), (8, 25.0), (16, 50.0), (24, 80.0), (48, 180.0))
"""Unmanaged gigabit switch sizes and estimated prices (USD)."""


@dataclass(frozen=True)
class Item:
    """One line of the parts list."""

    item: str
    """What to buy."""
    quantity: int
    """How many."""
    unit_price_usd: float
    """Estimated price of one, in USD, as of PRICES_AS_OF."""
    notes: str
    """Why, and what to look out for."""


@dataclass(frozen=True)
class PowerBudget:
    """How much power the cluster needs and what supplies it."""

    per_node_watts: float
    """Budget of one board (the rating of its official supply)."""
    total_watts: float
    """All boards at full budget."""
    supply: str
    """The recommended way to power the cluster."""
    alternatives: tuple[str, ...]
    """Other ways that meet the budget, and the catch of each."""


@dataclass(frozen=True)
class BillOfMaterials:
    """The parts list for a cluster of `nodes` boards of `model`."""

    nodes: int
    """Number of boards, master included."""
    model: str
    """pi3, pi4 or pi5."""
    items: tuple[Item, ...]
    """The lines of the list."""
    power: PowerBudget
    """Power budget and supply."""
    prices_as_of: str = PRICES_AS_OF
    """When the price estimates were taken."""

    @property
    def total_usd(self) -> float:
        """Estimated total, rounded to cents."""
        return round(sum(i.quantity * i.unit_price_usd for i in self.items), 2)


def _switch_for(ports: int) -> tuple[int, float]:
    for size, price in SWITCH_SIZES:
        if size >= ports:
            return size, price
    raise UsageError(f"no single switch has {ports} ports; use at most {MAX_NODES} nodes")


def power_budget(spec: BoardSpec, nodes: int) -> PowerBudget:
    """Total watts and the supply options that meet them."""
    total = spec.watts * nodes
    return PowerBudget(
        per_node_watts=spec.watts,
        total_watts=total,
        supply=f"one {spec.supply} per board: {nodes} x {spec.watts:g} W = {total:g} W",
        alternatives=(
            f"a multi-port USB charger only if every port delivers {spec.amps:g} A at 5.1 V at the "
            f"same time ({total:g} W in total, not the charger's headline figure); "
            f"{spec.charger_catch}; under-voltage shows up in `appliance doctor`",
            f"{spec.poe}; the switch's PoE budget must cover {nodes} ports",
        ),
    )


def bill_of_materials(nodes: int, model: str = "pi4") -> BillOfMaterials:
    """The parts list for `nodes` boards of `model` (pi3, pi4 or pi5)."""
    spec = BOARDS.get(model)
    if spec is None:
        raise UsageError(f"unknown model {model!r}; choose one of {', '.join(sorted(BOARDS))}")
    if not 1 <= nodes <= MAX_NODES:
        raise UsageError(f"--nodes must be between 1 and {MAX_NODES}, got {nodes}")
    ports, switch_price = _switch_for(nodes + 1)
    items = (
        Item(spec.board, nodes, spec.board_price, "64-bit CPU; Kubernetes has no 32-bit ARM packages"),
        Item(
            "microSD card, 32 GB, A1/A2 application class (e.g. Raspberry Pi, SanDisk Extreme, Samsung EVO)",
            nodes, 10.0,
            "A1/A2 cards keep random I/O usable for etcd and containerd; cheap cards fail early",
        ),
        Item(spec.supply, nodes, spec.supply_price,
             f"{spec.connector}; the full {spec.watts:g} W avoids under-voltage throttling"),
        Item("Ethernet patch cable, Cat 6, 0.3-1 m", nodes, 2.0, "one per node to the switch"),
        Item(f"Gigabit Ethernet switch, unmanaged, {ports} ports", 1, switch_price,
             f"{nodes} nodes + 1 spare port (a laptop, or a wired uplink)"),
        Item(spec.case, nodes, spec.case_price, "or one stackable cluster case for all boards"),
    )
    return BillOfMaterials(nodes, model, items, power_budget(spec, nodes))


def to_json(bom: BillOfMaterials) -> dict[str, object]:
    """The `hardware bom -o json` shape (CLI.md), plus prices_as_of and total_usd."""
    return {
        "nodes": bom.nodes,
        "model": bom.model,
        "prices_as_of": bom.prices_as_of,
        "items": [
            {"item": i.item, "quantity": i.quantity, "unit_price_usd": i.unit_price_usd, "notes": i.notes}
            for i in bom.items
        ],
        "total_usd": bom.total_usd,
        "power": {
            "per_node_watts": bom.power.per_node_watts,
            "total_watts": bom.power.total_watts,
            "supply": bom.power.supply,
            "alternatives": list(bom.power.alternatives),
        },
    }
