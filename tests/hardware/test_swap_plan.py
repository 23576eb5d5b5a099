"""Turning swap off: rpi-swap (trixie) and dphys-swapfile (bookworm and before), as data."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from hardware.doctor.parsers import proc_swaps
from hardware.swap import RPI_SWAP_CONF, SwapFacts, plan_swap_off, set_ini_key

DATA = Path(__file__).parent / "data"
CAPTURED = DATA / "captured"


def test_trixie_rpi_swap_with_zram() -> None:
    conf = (DATA / "rpi-swap-conf-commented.conf").read_text()
    swaps = proc_swaps((CAPTURED / "pi-trixie-proc-swaps-zram.txt").read_text())
    plan = plan_swap_off(SwapFacts(active_swaps=swaps, rpi_swap_conf=conf, dphys_swapfile=False))
    assert [edit.path for edit in plan.edits] == [RPI_SWAP_CONF]
    new = plan.edits[0].content
    assert "[Main]\n#Mechanism=auto\nMechanism=none\n" in new  # the commented default stays as it was
    assert new.replace("Mechanism=none\n", "", 1) == conf
    assert plan.commands == (("swapoff", "-a"),)
    again = plan_swap_off(SwapFacts(active_swaps=(), rpi_swap_conf=new, dphys_swapfile=False))
    assert again.empty and again.notes == ("swap is already off and stays off",)


def test_bookworm_dphys_swapfile() -> None:
    swaps = proc_swaps((CAPTURED / "pi-bookworm-proc-swaps-dphys.txt").read_text())
    plan = plan_swap_off(SwapFacts(active_swaps=swaps, rpi_swap_conf=None, dphys_swapfile=True))
    assert plan.edits == ()
    assert plan.commands == (
        ("dphys-swapfile", "swapoff"),
        ("dphys-swapfile", "uninstall"),
        ("systemctl", "disable", "--now", "dphys-swapfile.service"),
        ("swapoff", "-a"),
    )
    done = plan_swap_off(SwapFacts(active_swaps=(), rpi_swap_conf=None, dphys_swapfile=True, dphys_enabled=False))
    assert done.empty


def test_rewrites_an_explicit_mechanism_in_place() -> None:
    text = "[Main]\nMechanism=zram\n\n[Zram]\nRamMultiplier=0.5\n"
    assert set_ini_key(text, "Main", "Mechanism", "none") == "[Main]\nMechanism=none\n\n[Zram]\nRamMultiplier=0.5\n"
    assert set_ini_key("", "Main", "Mechanism", "none") == "[Main]\nMechanism=none\n"
    assert set_ini_key("[Zram]\nX=1", "Main", "Mechanism", "none") == "[Zram]\nX=1\n[Main]\nMechanism=none\n"
    assert set_ini_key("[Main]\nMechanism = none\n", "Main", "Mechanism", "none") == "[Main]\nMechanism = none\n"


@given(st.text(max_size=300))
def test_fuzz_set_ini_key_idempotent(text: str) -> None:
    once = set_ini_key(text, "Main", "Mechanism", "none")
    assert set_ini_key(once, "Main", "Mechanism", "none") == once
