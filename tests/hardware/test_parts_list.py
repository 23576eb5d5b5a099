"""The parts list: switch size, power budget per model, JSON shape of CLI.md."""

from __future__ import annotations

import pytest

from foundation.errors import UsageError
from hardware.bom import BOARDS, bill_of_materials, to_json


@pytest.mark.parametrize(("nodes", "ports"), [(1, 5), (4, 5), (5, 8), (7, 8), (8, 16), (15, 16), (16, 24), (47, 48)])
def test_switch_has_a_spare_port(nodes: int, ports: int) -> None:
    bom = bill_of_materials(nodes, "pi4")
    switch = next(item for item in bom.items if "switch" in item.item)
    assert f"{ports} ports" in switch.item and switch.quantity == 1 and ports >= nodes + 1


@pytest.mark.parametrize(("model", "watts"), [("pi5", 27.0), ("pi4", 15.0), ("pi3", 12.5)])
def test_power_budget(model: str, watts: float) -> None:
    bom = bill_of_materials(4, model)
    assert bom.power.per_node_watts == watts and bom.power.total_watts == 4 * watts
    assert f"{4 * watts:g} W" in bom.power.supply
    assert any("PoE" in option for option in bom.power.alternatives)
    per_node = [item for item in bom.items if item.quantity == 4]
    assert len(per_node) == 5  # board, SD card, supply, cable, case


def test_json_shape_of_cli_md() -> None:
    data = to_json(bill_of_materials(4, "pi5"))
    assert {"nodes", "model", "items", "power"} <= set(data)
    assert data["nodes"] == 4 and data["model"] == "pi5"
    items = data["items"]
    assert isinstance(items, list)
    for item in items:
        assert set(item) == {"item", "quantity", "unit_price_usd", "notes"}
        assert item["unit_price_usd"] > 0 and item["quantity"] >= 1
    power = data["power"]
    assert isinstance(power, dict) and {"total_watts", "supply"} <= set(power)
    assert data["prices_as_of"] and data["total_usd"] == round(sum(i["quantity"] * i["unit_price_usd"] for i in items), 2)
    sd = next(i for i in items if "microSD" in i["item"])
    assert "A1/A2" in sd["item"] and "32 GB" in sd["item"]


@pytest.mark.parametrize(("nodes", "model"), [(0, "pi4"), (48, "pi4"), (-3, "pi5"), (4, "pi2"), (4, "pi1")])
def test_bad_input(nodes: int, model: str) -> None:
    with pytest.raises(UsageError):
        bill_of_materials(nodes, model)


def test_models_offered_are_all_64bit() -> None:
    assert set(BOARDS) == {"pi3", "pi4", "pi5"}
