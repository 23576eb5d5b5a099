"""Turning swap off: rpi-swap (trixie) and dphys-swapfile (bookworm and before), as data."""

from __future__ import annotations

from pathlib import Path

from hardware.doctor.parsers import proc_swaps
from hardware.swap import RPI_SWAP_DROPIN, RPI_SWAP_DROPIN_TEXT, SwapFacts, plan_swap_off

CAPTURED = Path(__file__).parent / "data" / "captured"


def test_trixie_rpi_swap_with_zram() -> None:
    swaps = proc_swaps((CAPTURED / "pi-trixie-proc-swaps-zram.txt").read_text())
    plan = plan_swap_off(SwapFacts(active_swaps=swaps, rpi_swap=True, rpi_swap_dropin=None, dphys_swapfile=False))
    assert [(edit.path, edit.content) for edit in plan.edits] == [(RPI_SWAP_DROPIN, RPI_SWAP_DROPIN_TEXT)]
    assert RPI_SWAP_DROPIN.startswith("/etc/rpi/swap.conf.d/") and RPI_SWAP_DROPIN.endswith(".conf")
    assert "[Main]\nMechanism=none\n" in RPI_SWAP_DROPIN_TEXT
    assert plan.commands == (("swapoff", "-a"),)
    again = plan_swap_off(SwapFacts(active_swaps=(), rpi_swap=True, rpi_swap_dropin=RPI_SWAP_DROPIN_TEXT,
                                    dphys_swapfile=False))
    assert again.empty and again.notes == ("swap is already off and stays off",)


def test_edited_dropin_is_put_back() -> None:
    plan = plan_swap_off(SwapFacts(active_swaps=(), rpi_swap=True, rpi_swap_dropin="[Main]\nMechanism=zram\n",
                                   dphys_swapfile=False))
    assert [edit.path for edit in plan.edits] == [RPI_SWAP_DROPIN] and plan.commands == ()


def test_bookworm_dphys_swapfile() -> None:
    swaps = proc_swaps((CAPTURED / "pi-bookworm-proc-swaps-dphys.txt").read_text())
    plan = plan_swap_off(SwapFacts(active_swaps=swaps, rpi_swap=False, rpi_swap_dropin=None, dphys_swapfile=True))
    assert plan.edits == ()
    assert plan.commands == (
        ("dphys-swapfile", "swapoff"),
        ("dphys-swapfile", "uninstall"),
        ("systemctl", "disable", "--now", "dphys-swapfile.service"),
        ("swapoff", "-a"),
    )
    done = plan_swap_off(SwapFacts(active_swaps=(), rpi_swap=False, rpi_swap_dropin=None,
                                   dphys_swapfile=True, dphys_enabled=False))
    assert done.empty


def test_plain_swap_without_a_manager() -> None:
    plan = plan_swap_off(SwapFacts(active_swaps=("/swapfile",), rpi_swap=False, rpi_swap_dropin=None,
                                   dphys_swapfile=False))
    assert plan.edits == () and plan.commands == (("swapoff", "-a"),)
