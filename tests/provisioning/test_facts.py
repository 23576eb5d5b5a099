"""Facts: one script, sections nobody can forge, parsers that never crash on what a node sends back."""

from __future__ import annotations

import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from provisioning.connector import LocalConnector
from provisioning.facts import SECTIONS, parse_facts, read_facts, script
from provisioning.facts.packages import minor_of, parse_dpkg_query, upstream_version
from provisioning.facts.services import parse_show
from provisioning.facts.state import parse_credential
from provisioning.facts.system import memory_cgroup, parse_os_release
from tests.support.paths import REPO

CAPTURED = REPO / "tests" / "hardware" / "data" / "captured"


def test_sections_are_unique_and_the_script_refuses_bad_names() -> None:
    script.build_script(SECTIONS, "@@x")
    with pytest.raises(ValueError, match="duplicate"):
        script.build_script((script.command("a", "true"), script.command("a", "true")), "@@x")
    with pytest.raises(ValueError, match="bad fact section name"):
        script.build_script((script.command("a b", "true"),), "@@x")


def test_split_keeps_content_exactly_and_ignores_a_forged_boundary() -> None:
    boundary = script.new_boundary()
    other = script.new_boundary()
    out = (f"junk\n{boundary} one\nline 1\n\nline 3\n\n{boundary} two\n"
           f"{other} forged\nnot a section\n{boundary} empty\n")
    assert script.split_output(out, boundary) == {"one": "line 1\n\nline 3\n", "two": f"{other} forged\nnot a section",
                                                  "empty": ""}
    assert script.file_text("Y\nabc") == "abc" and script.file_text("N\n") is None and script.file_text(None) is None
    assert script.sha256_of("a" * 64 + "\n") == "a" * 64 and script.sha256_of("zz") is None


def test_facts_of_this_machine_in_one_round_trip() -> None:
    """The real script on this machine (read-only): it parses, and agrees with what Python sees."""
    facts = read_facts(LocalConnector())
    import os

    assert facts.system.machine == os.uname().machine
    assert facts.system.hostname == os.uname().nodename
    assert facts.system.os_release.get("ID")
    assert facts.packages.installed("containernetworking-plugins") is not None  # scripts/install puts it here
    assert facts.state.cni_plugins == frozenset({"bridge", "host-local", "portmap", "loopback"})


def test_os_release() -> None:
    text = 'PRETTY_NAME="Debian GNU/Linux 13 (trixie)"\nID=debian\nVERSION_CODENAME=trixie\n# c\nbad line\nlower=x\n'
    assert parse_os_release(text) == {"PRETTY_NAME": "Debian GNU/Linux 13 (trixie)", "ID": "debian",
                                      "VERSION_CODENAME": "trixie"}


def test_memory_cgroup_from_captured_pi_files() -> None:
    v2_on = (CAPTURED / "pi-bookworm-cgroup-controllers-memory.txt").read_text()
    v2_off = (CAPTURED / "pi-bookworm-cgroup-controllers-no-memory.txt").read_text()
    v1_off = (CAPTURED / "pi-bookworm-proc-cgroups-memory-disabled.txt").read_text()
    assert memory_cgroup(v2_on, v1_off) is True  # cgroup v2's list decides when present
    assert memory_cgroup(v2_off, None) is False
    assert memory_cgroup(None, v1_off) is False
    assert memory_cgroup(None, None) is None


def test_dpkg_query_status_holds_and_versions() -> None:
    text = ("kubelet\t1.34.2-1.1\thi \nkubeadm\t1.34.2-1.1\tii \ncontainerd\t1.7.24~ds1-6\tiF \n"
            "curl\t\tun \nbad line\nx y\t1\tii \n")
    found = parse_dpkg_query(text)
    assert [(p.name, p.installed, p.held) for p in found.values()] == [
        ("kubelet", True, True), ("kubeadm", True, False), ("containerd", False, False), ("curl", False, False)]
    assert upstream_version("1:1.34.2-1.1") == "1.34.2" and minor_of("1.34.2-1.1") == "1.34"
    assert minor_of("1:528.0.0-0") == "528.0" and minor_of("garbage") is None


def test_systemctl_show_blocks() -> None:
    # systemctl show -p Id,LoadState,UnitFileState,ActiveState A B: one KEY=value block per unit.
    text = ("Id=containerd.service\nLoadState=loaded\nActiveState=active\nUnitFileState=enabled\n\n"
            "Id=kubelet.service\nLoadState=loaded\nActiveState=activating\nUnitFileState=disabled\n\n"
            "Id=appliance-agent.service\nLoadState=not-found\nActiveState=inactive\nUnitFileState=\n")
    units = parse_show(text)
    assert [(u.loaded, u.enabled, u.active) for u in units.values()] == [
        (True, True, True), (True, False, True), (False, False, False)]


def test_credential_probe() -> None:
    digest = "c" * 64
    assert parse_credential(f"600\nnode-1\n{digest}\n") is not None
    for bad in ("", "600\nnode-1\n", f"60x\nnode-1\n{digest}", f"600\nno de\n{digest}", "600\nn\nzz"):
        assert parse_credential(bad) is None


SECTION_NAMES = [section.name for section in SECTIONS]


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(SECTION_NAMES), st.text(max_size=200)))
def test_fuzzed_sections_never_crash_the_parsers(raw: dict[str, str]) -> None:
    facts = parse_facts(raw)
    assert isinstance(facts.system.machine, str) and facts.state.kube_rules >= 0


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=string.printable + "\x00é", max_size=2000))
def test_fuzzed_output_never_crashes_the_splitter(text: str) -> None:
    found = script.split_output(text, "@@facts-0")
    assert all(isinstance(value, str) for value in found.values())


def test_board_model_from_the_device_tree_or_the_revision_code() -> None:
    from provisioning.facts.system import board_model

    cpuinfo = (CAPTURED / "pi4-arm64-cpuinfo.txt").read_text()
    assert board_model(cpuinfo, "") == "Raspberry Pi 4B"
    assert board_model(cpuinfo, "Raspberry Pi 4 Model B Rev 1.1") == "Raspberry Pi 4 Model B Rev 1.1"
    assert board_model("", "QEMU Virtual Machine") is None  # not a Pi: nothing recorded
    assert board_model("Revision\t: zz", "") is None


def test_dphys_swapfile_state_comes_from_the_one_systemctl_call() -> None:
    from provisioning.facts.kernel import dphys_enabled

    assert dphys_enabled("Id=dphys-swapfile.service\nLoadState=loaded\nUnitFileState=enabled\nActiveState=active\n")
    assert not dphys_enabled("Id=dphys-swapfile.service\nLoadState=not-found\nUnitFileState=\nActiveState=inactive\n")
    assert not dphys_enabled("")
