"""The master card's installer, played by the lab for the master daemon it runs from the host's install.

With `lab up --cards DIR` the master board boots `DIR/master.img` like a Pi, and its first-boot
installer (images.payload's install.sh) puts the master card's files into the board's
/var/lib/appliance. The lab's master daemon, though, runs on the host's filesystem with the
lab's master state dir. So before it starts, the lab does for that daemon what the installer
does, reading the card's FAT boot partition with mtools (this kernel has no vfat driver; the
card is only read):

    appliance/cluster.yaml        -> the daemon's cluster.yaml (unless `lab up --config`)
    appliance/cards.pub           -> STATE_DIR/cards.pub          the card keys provisioning pins
    appliance/ssh/id_ed25519      -> STATE_DIR/ssh/id_ed25519     (0600) the provisioning key that
    appliance/ssh/id_ed25519.pub  -> STATE_DIR/ssh/id_ed25519.pub  every card authorises

A card without these files (one not made by `appliance image build`) gives nothing: the daemon
then uses the lab's config and makes its own key, as without cards. The paths are the
images' and provisioning's (hardware.lab may import neither); tests/lab/test_master_card.py
checks that they agree.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from foundation.errors import EnvironmentProblem
from hardware.lab.cards import read_layout

CARD_CLUSTER_YAML = "appliance/cluster.yaml"
"""The cluster.yaml on a master card's boot partition (images.customize)."""
CARD_CARDS_PUB = "appliance/cards.pub"
"""The card keys on a master card's boot partition (images.customize.CARDS_PUB)."""
CARD_PRIVATE_KEY = "appliance/ssh/id_ed25519"
"""The provisioning key on a master card's boot partition (images.provisioning_key.CARD_PRIVATE)."""
STATE_CARDS_PUB = Path("cards.pub")
"""Where the daemon imports card keys from, in its state dir (provisioning.host_keys.CARDS_FILE)."""
STATE_PRIVATE_KEY = Path("ssh") / "id_ed25519"
"""The daemon's provisioning key in its state dir (provisioning.node_access.KEY_FILE)."""


@dataclass(frozen=True)
class MasterCard:
    """What a master card carries for the master's state, read from its boot partition."""

    cluster_yaml: bytes | None
    """appliance/cluster.yaml, None when absent."""
    cards_pub: bytes | None
    """appliance/cards.pub, None when absent."""
    private_key: bytes | None
    """appliance/ssh/id_ed25519, None when absent."""
    public_key: bytes | None
    """appliance/ssh/id_ed25519.pub, None when absent."""


def read_master_card(card: Path) -> MasterCard:
    """The master card's files for the master (see the module docstring); EnvironmentProblem if mtools fails."""
    boot = read_layout(card).boot
    names = (CARD_CLUSTER_YAML, CARD_CARDS_PUB, CARD_PRIVATE_KEY, f"{CARD_PRIVATE_KEY}.pub")
    found: dict[str, bytes] = {}
    with tempfile.TemporaryDirectory(prefix="pilab-master-card-") as work:
        present = _list(card, boot.start)
        for name in names:
            if name not in present:
                continue
            target = Path(work) / name.replace("/", "_")
            _mtools(["mcopy", "-n", "-i", f"{card}@@{boot.start}", f"::{name}", str(target)], card)
            found[name] = target.read_bytes()
    return MasterCard(*(found.get(name) for name in names))


def _list(card: Path, offset: int) -> set[str]:
    """Every file below appliance/ on the boot partition, as paths relative to its root."""
    out = _mtools(["mdir", "-/", "-b", "-i", f"{card}@@{offset}", "::appliance"], card, check=False)
    return {line.strip().removeprefix("::/").removeprefix("::") for line in out.splitlines() if line.strip()}


def _mtools(command: list[str], card: Path, check: bool = True) -> str:
    done = subprocess.run(command, capture_output=True, text=True, stdin=subprocess.DEVNULL, check=False,
                          env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "MTOOLS_SKIP_CHECK": "1"})
    if check and done.returncode != 0:
        raise EnvironmentProblem(f"{card}: reading the master card's boot partition failed "
                                 f"({done.stderr.strip()[-200:]}); fix: flash it again with `appliance flash`")
    return done.stdout


def install_master_card(card: MasterCard, state_dir: Path) -> list[str]:
    """Put the card keys and the provisioning key into the daemon's state dir, as install.sh does on a
    master; return what was installed (for `lab up`'s output)."""
    installed = []
    state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    if card.cards_pub is not None:
        _write(state_dir / STATE_CARDS_PUB, card.cards_pub, 0o644)
        keys = sum(1 for line in card.cards_pub.decode(errors="replace").splitlines()
                   if line.strip() and not line.startswith("#"))
        installed.append(f"{keys} card key(s)")
    if card.private_key is not None and card.public_key is not None:
        (state_dir / STATE_PRIVATE_KEY).parent.mkdir(mode=0o700, exist_ok=True)
        _write(state_dir / STATE_PRIVATE_KEY, card.private_key, 0o600)
        _write(state_dir / f"{STATE_PRIVATE_KEY}.pub", card.public_key, 0o644)
        installed.append("the provisioning key")
    return installed


def _write(path: Path, data: bytes, mode: int) -> None:
    """Replace `path` whole, created with `mode` (a private key is never readable by others, not even briefly)."""
    partial = path.with_name(path.name + ".partial")
    partial.unlink(missing_ok=True)
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(partial, mode)
    partial.replace(path)
