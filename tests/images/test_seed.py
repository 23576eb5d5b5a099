"""Seed rendering and the small parsers: pure functions, plain calls, hypothesis for the parsers."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.cli.progress import ProgressLine, progress_text
from foundation.config import parse_config
from images.devices import parse_mountinfo
from images.errors import ImageError
from images.payload import card_cluster_yaml
from images.rootfs import RootFacts, elf_arch, judge_root, parse_os_release, python_version
from images.seed import (
    CardSeed,
    HostKey,
    NoPasswordHash,
    firstrun_script,
    meta_data,
    network_config,
    user_data,
    with_host_keys,
    with_instance_id,
    wpa_psk,
)

HASH = "$6$imagetest$eY1yGJy7dVZzW0fLwG9yzq0lSiuHsVn9K7i8tQ3zS4nK7P.nT3jWZp4n4m1eQm0HhGxWm0e9hQ2l8kUqk3rV30"
TEXT = f"""cluster:
  name: lab
access:
  user: admin
  password_hash: "{HASH}"
"""


def test_wpa_psk_matches_the_ieee_test_vector() -> None:
    # IEEE 802.11i-2004, H.4.3: passphrase "password", SSID "IEEE".
    assert wpa_psk("IEEE", "password") == "f42c6fc52df0ebef9ebb4b90b38a5f902e83fe1b135a70e23aed762e9710a12e"
    assert wpa_psk("x", "AB" * 32) == "ab" * 32  # 64 hex digits already are the PSK


def test_no_password_hash_is_refused() -> None:
    config = parse_config("cluster:\n  name: lab\n")
    with pytest.raises(NoPasswordHash, match="default password"):
        user_data(config, CardSeed("worker", "id-1"))
    with pytest.raises(NoPasswordHash):
        firstrun_script(config, "worker", None)


def test_master_without_wifi_takes_its_uplink_by_dhcp() -> None:
    config = parse_config(TEXT + "network:\n  uplink_interface: eth1\n")
    network = yaml.safe_load(network_config(config, "master", None))["network"]
    assert network["ethernets"]["eth1"] == {"dhcp4": True, "optional": True} and "wifis" not in network
    assert network["ethernets"]["eth0"]["addresses"] == ["10.0.0.1/24"]
    data = yaml.safe_load(user_data(config, CardSeed("master", "id-1")))
    assert data["hostname"] == "lab-master" and data["user"]["name"] == "admin"
    assert yaml.safe_load(meta_data(config, CardSeed("master", "id-7"))) == {"instance-id": "id-7",
                                                                           "local-hostname": "lab-master"}


def test_card_keys_and_ids_are_added_to_a_built_seed() -> None:
    config = parse_config(TEXT)
    built = user_data(config, CardSeed("worker", "id-1"))
    key = HostKey("ed25519", "-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----\n",
                  "ssh-ed25519 AAAAC3 card=pi-1")
    card = yaml.safe_load(with_host_keys(built, (key,)))
    assert card["ssh_keys"] == {"ed25519_private": key.private, "ed25519_public": key.public}
    assert card["user"] == yaml.safe_load(built)["user"]
    assert yaml.safe_load(with_instance_id("instance-id: a\nlocal-hostname: m\n", "b")) == {
        "instance-id": "b", "local-hostname": "m"}


def test_firstrun_script_parses_and_quotes(tmp_path: Path) -> None:
    config = parse_config(TEXT + 'wifi:\n  ssid: "Cafe \'n\' $HOME"\n  country: DE\n')
    script = firstrun_script(config, "master", wpa_psk("Cafe 'n' $HOME", "secretpass"))
    subprocess.run(["sh", "-n"], input=script.encode(), check=True)
    # The profile's printf line, run by a real shell into a scratch file: the SSID arrives verbatim.
    start = script.index("printf '%s' '[connection]\nid=appliance-uplink")
    end = script.index("appliance-uplink.nmconnection", start) + len("appliance-uplink.nmconnection")
    line = script[start:end]
    target = tmp_path / "uplink.nmconnection"
    subprocess.run(["sh", "-c", line.replace("/etc/NetworkManager/system-connections/appliance-uplink.nmconnection",
                                             str(target))], check=True)
    assert "ssid=Cafe 'n' $HOME\n" in target.read_text()
    assert "chpasswd -e" in script and "rm -f \"$BOOT/firstrun.sh\"" in script


def test_card_cluster_yaml_drops_the_psk_path(tmp_path: Path) -> None:
    psk = tmp_path / "wifi.psk"
    psk.write_text("correct horse battery\n")
    psk.chmod(0o600)
    text = TEXT + "wifi:\n  ssid: Home\n  psk_file: wifi.psk  # the passphrase\n  country: GB\n"
    config = parse_config(text, base_dir=tmp_path)
    card = card_cluster_yaml(text, config)
    assert "psk_file: wifi.psk" not in card and "# psk_file:" in card
    assert yaml.safe_load(card)["wifi"] == {"ssid": "Home", "country": "GB"}
    parse_config(card)  # still a valid cluster.yaml on the master


def test_progress_line_on_a_terminal_and_in_a_log() -> None:
    now = [0.0]
    screen = io.StringIO()
    line = ProgressLine(screen, terminal=True, clock=lambda: now[0])
    for step in range(1, 11):
        now[0] += 0.0625  # exact in binary: no rounding at the 0.1 s boundary
        line.update("pi-1 write", step * 100_000_000, 1_000_000_000)
    line.finish()
    shown = screen.getvalue()
    assert shown.count("\r") == 6 and shown.endswith("\n")  # at most every 0.1 s, and the last one
    assert "1.0 GB of 1.0 GB (100%)" in shown
    log = io.StringIO()
    plain = ProgressLine(log, terminal=False, clock=lambda: now[0])
    for step in range(1, 101):
        plain.update("verify", step, 100)
    assert len(log.getvalue().splitlines()) == 5 and "\r" not in log.getvalue()  # start, then every 25%
    assert progress_text("w", 50, 100, 2.0) == "w: 50 B of 100 B (50%), 25 B/s, 2 s left"


def test_root_judgments() -> None:
    arm64 = b"\x7fELF\x02\x01\x01" + bytes(11) + b"\xb7\x00" + bytes(44)
    facts = RootFacts('PRETTY_NAME="Debian GNU/Linux 13 (trixie)"\nVERSION_CODENAME=trixie\n',
                      ("python3", "python3.13", "python3.9", "os-release"), arm64)
    info = judge_root(facts, "img")
    assert (info.arch, info.python, info.codename) == ("aarch64", "3.13", "trixie")
    with pytest.raises(ImageError, match="no python3"):
        judge_root(RootFacts("", ("lib",), b""), "img")


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_text_parsers_never_raise(text: str) -> None:
    parse_mountinfo(text)
    parse_os_release(text)
    python_version(tuple(text.split()))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=80), st.lists(st.text(max_size=12), max_size=6), st.text(max_size=200))
def test_root_facts_give_info_or_one_image_error(header: bytes, names: list[str], release: str) -> None:
    try:
        elf_arch(header)
    except ValueError:
        pass
    try:
        judge_root(RootFacts(release, tuple(names), header), "img")
    except ImageError as error:
        assert "\n" not in str(error)
