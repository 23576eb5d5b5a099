"""config.txt edits in the right section, on shipped files; idempotence; hostile content."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hardware.cmdline import BootFileError
from hardware.configtxt import add_line, effective_value, parse_config, prepare_config, set_value

DATA = Path(__file__).parent / "data"


@pytest.mark.parametrize("name", ["config-bookworm.txt", "config-trixie.txt"])
def test_shipped_64bit_config_needs_no_arm_64bit_edit(name: str) -> None:
    text = (DATA / name).read_text()
    assert effective_value(text, "arm_64bit") == "1"
    assert set_value(text, "arm_64bit", "1") is text
    assert prepare_config(text, "master") is text  # the master keeps its radios (Wi-Fi uplink)


@pytest.mark.parametrize("name", ["config-bookworm.txt", "config-trixie.txt"])
def test_worker_radios_off_appended_in_all(name: str) -> None:
    text = (DATA / name).read_text()
    edited = prepare_config(text, "worker")
    assert edited.startswith(text)  # nothing before is touched
    assert edited[len(text):] == "dtoverlay=disable-wifi\ndtoverlay=disable-bt\n"  # file ends in [all]
    sections = {(line.section, line.text) for line in parse_config(edited)}
    assert ("all", "dtoverlay=disable-wifi") in sections and ("all", "dtoverlay=disable-bt") in sections
    assert prepare_config(edited, "worker") is edited


def test_32bit_bullseye_gets_arm_64bit_after_a_conditional_section() -> None:
    text = (DATA / "config-bullseye-32bit.txt").read_text()
    assert effective_value(text, "arm_64bit") is None
    edited = set_value(text, "arm_64bit", "1")
    assert edited == text + "arm_64bit=1\n"  # the stock file ends with [all]
    assert effective_value(edited, "arm_64bit") == "1"


@pytest.mark.parametrize(("text", "expected"), [
    ("", "arm_64bit=1\n"),
    ("dtparam=audio=on", "dtparam=audio=on\narm_64bit=1\n"),
    ("arm_64bit=0\n", "arm_64bit=0\narm_64bit=1\n"),
    ("arm_64bit=1\n[pi4]\narm_64bit=0\n", "arm_64bit=1\n[pi4]\narm_64bit=0\n[all]\narm_64bit=1\n"),
    ("[pi4]\narm_boost=1\n", "[pi4]\narm_boost=1\n[all]\narm_64bit=1\n"),
    ("#arm_64bit=1\n", "#arm_64bit=1\narm_64bit=1\n"),
    ("a=1\r\n[cm4]\r\nb=2\r\n", "a=1\r\n[cm4]\r\nb=2\r\n[all]\r\narm_64bit=1\r\n"),
    ("a=1\r", "a=1\r\narm_64bit=1\n"),  # a lone CR does not end a line
])
def test_set_value_table(text: str, expected: str) -> None:
    assert set_value(text, "arm_64bit", "1") == expected
    assert set_value(expected, "arm_64bit", "1") == expected


def test_add_line_to_a_conditional_section_closes_it() -> None:
    edited = add_line("arm_64bit=1\n", "dtoverlay=disable-wifi", "pi4")
    assert edited == "arm_64bit=1\n[pi4]\ndtoverlay=disable-wifi\n[all]\n"
    assert add_line(edited, "dtoverlay=disable-wifi", "PI4") is edited
    assert add_line(edited, "dtoverlay=disable-wifi", "all") != edited  # [pi4] is not [all]


def test_hostile_content() -> None:
    with pytest.raises(BootFileError, match="NUL"):
        set_value("arm_64bit=0\0\n", "arm_64bit", "1")
    long_line = "x" * 100_000
    assert set_value(long_line, "arm_64bit", "1") == long_line + "\narm_64bit=1\n"
    # A form feed is not a line break for the firmware, so "[pi4]" stays part of the line
    assert effective_value("a=1\x0c[pi4]\narm_64bit=1\n", "arm_64bit") == "1"


@given(st.text(max_size=400), st.sampled_from(["all", "pi4", "cm5", "none"]))
def test_fuzz_idempotent_and_only_documented_error(text: str, section: str) -> None:
    try:
        once = add_line(set_value(text, "arm_64bit", "1"), "dtoverlay=disable-bt", section)
    except BootFileError:
        assert "\0" in text
        return
    assert once.startswith(text)
    assert effective_value(once, "arm_64bit") == "1"
    assert add_line(set_value(once, "arm_64bit", "1"), "dtoverlay=disable-bt", section) == once
