"""Revision codes: every model of the official table decodes to its documented fields."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from foundation.errors import UsageError
from hardware.models import (
    MalformedMac,
    MalformedRevision,
    cpuinfo_revision,
    decode_revision,
    device_tree_model,
    device_tree_revision,
    is_raspberry_pi_mac,
    mac_vendor,
    normalise_mac,
)

DATA = Path(__file__).parent / "data"
# The table of the Raspberry Pi documentation ("Raspberry Pi revision codes"), one row per code.
TABLE = list(csv.DictReader((DATA / "revision_codes.csv").read_text().splitlines()))
RAM_MB = {"256 MB": 256, "512 MB": 512, "1 GB": 1024, "2 GB": 2048, "4 GB": 4096,
          "8 GB": 8192, "16 GB": 16384, "256 MB / 512 MB": 256}


def test_table_is_complete() -> None:
    assert len([r for r in TABLE if len(r["code"]) == 4]) == 17
    assert len([r for r in TABLE if len(r["code"]) == 6]) == 60


@pytest.mark.parametrize("row", TABLE, ids=[r["code"] for r in TABLE])
def test_every_documented_code(row: dict[str, str]) -> None:
    info = decode_revision(row["code"])
    assert info.revision == row["code"]
    assert info.new_style == (len(row["code"]) == 6)
    assert info.memory_mb == RAM_MB[row["ram"]]
    assert info.manufacturer == row["manufacturer"]
    assert info.pcb_revision == row["revision"]
    documented = row["model"].removesuffix(" (with BCM2837)")
    if documented in ("500", "500+"):
        assert info.board_type == "500/500+"
    else:
        assert info.board_type == documented
    if "(with BCM2837)" in row["model"]:
        assert info.soc == "BCM2837" and info.model == "Raspberry Pi 2B (with BCM2837)"


@pytest.mark.parametrize(
    ("code", "soc", "arch"),
    [("0002", "BCM2835", "armv6l"), ("9000c1", "BCM2835", "armv6l"), ("a01041", "BCM2836", "armv7l"),
     ("a22042", "BCM2837", "aarch64"), ("902120", "BCM2837", "aarch64"), ("c03111", "BCM2711", "aarch64"),
     ("d04170", "BCM2712", "aarch64")],
)
def test_soc_and_architecture(code: str, soc: str, arch: str) -> None:
    info = decode_revision(code)
    assert (info.soc, info.arch) == (soc, arch)


def test_documented_worked_example() -> None:
    # The documentation decodes c03111 as a 4B, BCM2711, Sony UK, 4 GB, revision 1.
    info = decode_revision("c03111")
    assert (info.board_type, info.soc, info.manufacturer, info.memory_mb, info.pcb_revision) == (
        "4B", "BCM2711", "Sony UK", 4096, "1.1")


def test_input_forms_and_flags() -> None:
    assert decode_revision("0xC03111").revision == "c03111"
    assert decode_revision("  a02082\n").board_type == "3B"
    overvolted = decode_revision("1000002")  # old boards over-volted: "100" in front
    assert overvolted.warranty_void and overvolted.board_type == "B"
    assert decode_revision("2a02082").warranty_void  # new-style W bit (25)
    assert decode_revision("a02082").warranty_void is False
    other_ram = decode_revision("f04170")  # memory field 7 = "Other"
    assert other_ram.memory_mb is None
    unknown_type = decode_revision("c041f0")
    assert unknown_type.board_type == "unknown type 0x1f" and unknown_type.soc == "BCM2712"
    unknown_soc = decode_revision("c09111")
    assert unknown_soc.soc == "unknown (9)" and unknown_soc.arch == "unknown"


@pytest.mark.parametrize(
    "bad", ["", "   ", "xyz", "0x", "12345678901", "c0311g", "-c03111", "0000", "0001", "000a", "000c",
            "0016", "7fffff", "c03111 c03111", "Revision : c03111", "\0c03111", "٣"],
)
def test_malformed_codes_give_one_clear_error(bad: str) -> None:
    with pytest.raises(MalformedRevision) as caught:
        decode_revision(bad)
    message = str(caught.value)
    assert "\n" not in message and "revision code" in message
    assert isinstance(caught.value, UsageError) and caught.value.exit_code == 2


@given(st.text(max_size=40))
def test_fuzz_text_only_documented_error(text: str) -> None:
    try:
        info = decode_revision(text)
    except MalformedRevision:
        return
    assert info.revision and info.soc


@given(st.integers(min_value=0, max_value=0xFFFFFFFF))
def test_fuzz_every_32bit_code(code: int) -> None:
    try:
        info = decode_revision(f"{code:x}")
    except MalformedRevision:
        assert not code & (1 << 23)  # only old-style codes can be unknown
        return
    assert info.new_style == bool(code & (1 << 23))


@given(st.integers())
def test_fuzz_any_integer_string(code: int) -> None:
    try:
        decode_revision(str(code))
    except MalformedRevision:
        pass


def test_cpuinfo_and_device_tree() -> None:
    captured = DATA / "captured"
    assert cpuinfo_revision((captured / "pi4-arm64-cpuinfo.txt").read_text()) == "c03111"
    assert cpuinfo_revision((captured / "pizerow-armv6-cpuinfo.txt").read_text()) == "9000c1"
    assert cpuinfo_revision((captured / "host-cpuinfo.txt").read_text()) is None
    assert device_tree_model(b"Raspberry Pi 4 Model B Rev 1.1\x00") == "Raspberry Pi 4 Model B Rev 1.1"


@pytest.mark.parametrize("oui", ["b8:27:eb", "dc:a6:32", "e4:5f:01", "d8:3a:dd", "2c:cf:67", "28:cd:c1"])
def test_raspberry_pi_ouis(oui: str) -> None:
    assert is_raspberry_pi_mac(f"{oui}:12:34:56")
    assert is_raspberry_pi_mac(f"{oui}:12:34:56".upper().replace(":", "-"))
    assert mac_vendor(bytes.fromhex(oui.replace(":", "") + "abcdef")) is not None


def test_other_macs() -> None:
    assert not is_raspberry_pi_mac("02:00:00:00:00:01")
    assert not is_raspberry_pi_mac("3a:35:41:00:00:01")  # IEEE CID, never a board's Ethernet address
    assert normalise_mac("DCA6.3201.0203") == "dc:a6:32:01:02:03"


@pytest.mark.parametrize("bad", ["", "dc:a6:32", "dc:a6:32:01:02:03:04", "zz:a6:32:01:02:03", b"\x01\x02"])
def test_malformed_macs(bad: str | bytes) -> None:
    with pytest.raises(MalformedMac):
        mac_vendor(bad)


@given(st.one_of(st.text(max_size=30), st.binary(max_size=10)))
def test_fuzz_mac(mac: str | bytes) -> None:
    try:
        vendor = mac_vendor(mac)
    except MalformedMac:
        return
    assert vendor is None or vendor.startswith("Raspberry Pi")


def test_device_tree_revision_cell() -> None:
    assert device_tree_revision(bytes.fromhex("00c03111")) == "c03111"
    assert device_tree_revision(bytes.fromhex("00000010")) == "10"
    assert decode_revision(device_tree_revision(bytes.fromhex("00000010")) or "").board_type == "B+"
    assert device_tree_revision(b"") is None and device_tree_revision(b"\x00\xc0\x31") is None
