"""The lab plays the master card's installer: the card's files read with mtools, put into the daemon's state.

No lab is needed: a small card file (MBR, FAT32 boot partition written with mtools, an empty
root partition) stands in for DIR/master.img.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from foundation.errors import ApplianceError
from hardware.lab import master_card
from hardware.lab.master_card import install_master_card, read_master_card

BOOT_START = 2048  # sectors
BOOT_MIB = 40


def _card(path: Path, files: dict[str, bytes]) -> Path:
    """A card file whose boot partition holds `files` (paths relative to its root)."""
    root_start = BOOT_START + BOOT_MIB * 2048
    subprocess.run(["truncate", "-s", f"{BOOT_MIB + 8}M", str(path)], check=True)
    subprocess.run(["sfdisk", "-q", str(path)], check=True, capture_output=True, text=True,
                   input=f"label: dos\nstart={BOOT_START}, size={BOOT_MIB * 2048}, type=c\nstart={root_start}, type=83\n")
    subprocess.run(["mkfs.fat", "-F", "32", "-s", "1", "-n", "bootfs", "--offset", str(BOOT_START), str(path),
                    str(BOOT_MIB * 1024)], check=True, capture_output=True)
    target = f"{path}@@{BOOT_START * 512}"
    env = {**os.environ, "MTOOLS_SKIP_CHECK": "1"}
    staging = path.with_name(path.name + ".files")
    for name, data in files.items():
        (staging / name).parent.mkdir(parents=True, exist_ok=True)
        (staging / name).write_bytes(data)
    (staging / "cmdline.txt").parent.mkdir(parents=True, exist_ok=True)
    (staging / "cmdline.txt").write_text("console=tty1 root=PARTUUID=00000000-02\n")
    subprocess.run(["mcopy", "-s", "-i", target, *sorted(str(p) for p in staging.iterdir()), "::"], check=True, env=env)
    return path


KEY = b"-----BEGIN OPENSSH PRIVATE KEY-----\nstand-in\n-----END OPENSSH PRIVATE KEY-----\n"
PUB = b"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHcLZfb7ZTXNEX5H8bSBrRwgVPTVQp1SEL3bMeiWJwPW appliance-provisioning\n"
CARDS = (b"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHcLZfb7ZTXNEX5H8bSBrRwgVPTVQp1SEL3bMeiWJwPW card=pi-1 "
         b"flashed=2026-01-01T00:00:00+00:00\n# a comment\n"
         b"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHcLZfb7ZTXNEX5H8bSBrRwgVPTVQp1SEL3bMeiWJwPX card=master "
         b"flashed=2026-01-01T00:00:01+00:00\n")


def test_the_paths_are_the_images_and_provisionings() -> None:
    """hardware.lab may not import images or provisioning: the paths it duplicates must agree with theirs."""
    from images.customize import CARDS_PUB
    from images.provisioning_key import CARD_PRIVATE, CARD_PUBLIC
    from images.seed import PAYLOAD_DIR
    from provisioning.host_keys import CARDS_FILE
    from provisioning.node_access import KEY_FILE

    assert master_card.CARD_CARDS_PUB == CARDS_PUB
    assert master_card.CARD_PRIVATE_KEY == CARD_PRIVATE and f"{master_card.CARD_PRIVATE_KEY}.pub" == CARD_PUBLIC
    assert master_card.CARD_CLUSTER_YAML == f"{PAYLOAD_DIR}/cluster.yaml"
    assert master_card.STATE_CARDS_PUB == CARDS_FILE and not CARDS_FILE.is_absolute()
    assert master_card.STATE_PRIVATE_KEY == KEY_FILE


def test_the_master_cards_files_go_into_the_daemons_state(tmp_path: Path) -> None:
    card = _card(tmp_path / "master.img", {
        "appliance/cluster.yaml": b"cluster:\n  name: cardlab\n", "appliance/cards.pub": CARDS,
        "appliance/ssh/id_ed25519": KEY, "appliance/ssh/id_ed25519.pub": PUB,
        "appliance/wheels/pip-25.0-py3-none-any.whl": b"not read",
    })
    before = card.read_bytes()
    found = read_master_card(card)
    assert card.read_bytes() == before  # the card is only read
    assert found.cluster_yaml == b"cluster:\n  name: cardlab\n"
    state = tmp_path / "state"
    assert install_master_card(found, state) == ["2 card key(s)", "the provisioning key"]
    assert (state / "cards.pub").read_bytes() == CARDS
    assert (state / "ssh" / "id_ed25519").read_bytes() == KEY
    assert (state / "ssh" / "id_ed25519").stat().st_mode & 0o777 == 0o600
    assert (state / "ssh").stat().st_mode & 0o777 == 0o700
    assert (state / "ssh" / "id_ed25519.pub").read_bytes() == PUB
    # A later `lab up` with a re-flashed master card replaces them whole.
    (state / "cards.pub").write_bytes(b"old\n")
    install_master_card(found, state)
    assert (state / "cards.pub").read_bytes() == CARDS and not list(state.glob("**/*.partial"))


def test_a_card_not_made_by_the_appliance_gives_nothing(tmp_path: Path) -> None:
    found = read_master_card(_card(tmp_path / "master.img", {"user-data": b"#cloud-config\n"}))
    assert found == master_card.MasterCard(None, None, None, None)
    assert install_master_card(found, tmp_path / "state") == []
    assert list((tmp_path / "state").iterdir()) == []


def test_a_missing_or_broken_card_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ApplianceError, match=r"master\.img does not exist; fix: write it with `appliance flash"):
        read_master_card(tmp_path / "master.img")
    (tmp_path / "junk.img").write_bytes(b"\x00" * 4096)
    with pytest.raises(ApplianceError, match="fix: write the card with `appliance flash`"):
        read_master_card(tmp_path / "junk.img")
