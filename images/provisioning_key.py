"""The master's provisioning key: made by `appliance image build`, kept beside the images, on the cards.

The master provisions every node (itself included) over SSH as `provisioning.ssh_user`
with one Ed25519 key (provisioning.node_access: `STATE_DIR/ssh/id_ed25519`). A card must
authorise that key before first boot, or provisioning would need a password. So the build:

- makes the pair once per output folder, `DIR/provisioning-key` (mode 0600) and
  `DIR/provisioning-key.pub`, with ssh-keygen, and reuses it in every later build into the
  same DIR: cards flashed from an earlier build keep working with a master from a later one.
  A new pair is written into DIR with the images, only when the build succeeds;
- puts the public key into every card's `ssh_authorized_keys` (beside the user's own keys);
- puts the private key on the master card only, as `appliance/ssh/id_ed25519` (+ `.pub`),
  from where the first-boot installer moves it to `/var/lib/appliance/ssh/id_ed25519` (0600)
  and removes it from the boot partition. master.img is therefore written mode 0600.
"""

from __future__ import annotations

import os
import stat
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from images.errors import BuildFailed, ImageError
from images.seed import PAYLOAD_DIR

KEY_NAME = "provisioning-key"
"""The private key's file name in the output folder (the public one adds .pub)."""
COMMENT = "appliance-provisioning"
"""The public key's comment (what provisioning.node_access writes for a key it makes itself)."""
CARD_PRIVATE = f"{PAYLOAD_DIR}/ssh/id_ed25519"
"""Where the master card carries the private key (removed by the installer at first boot)."""
CARD_PUBLIC = f"{CARD_PRIVATE}.pub"
"""Where the master card carries the public key."""


@dataclass(frozen=True)
class ProvisioningKey:
    """The master's SSH key pair for provisioning."""

    private: str
    """The private key, OpenSSH format (no passphrase: the daemon uses it unattended)."""
    public: str
    """The public key line, `ssh-ed25519 AAAA… appliance-provisioning`."""


def key_paths(out: Path) -> tuple[Path, Path]:
    """DIR/provisioning-key and DIR/provisioning-key.pub."""
    return out / KEY_NAME, out / f"{KEY_NAME}.pub"


def load_provisioning_key(out: Path) -> ProvisioningKey | None:
    """The pair an earlier build left in `out`, or None when there is none."""
    private, public = key_paths(out)
    try:
        mode = stat.S_IMODE(os.stat(private).st_mode)
    except FileNotFoundError:
        return None
    if mode & 0o077:
        raise ImageError(f"{private} is readable by others (mode {mode:04o}); it lets the master into every "
                         f"node: chmod 600 {private}")
    if public.exists():
        line = public.read_text()
    else:  # only the private half was kept: derive the public one
        line = _ssh_keygen(["-y", "-f", str(private)])
    parts = line.split()
    if len(parts) < 2 or parts[0] != "ssh-ed25519":
        raise ImageError(f"{public} is not an ssh-ed25519 public key; remove {private} and {public} to make a "
                         "new pair (cards flashed before must then be flashed again)")
    return ProvisioningKey(private.read_text(), f"{parts[0]} {parts[1]} {COMMENT}")


def make_provisioning_key() -> ProvisioningKey:
    """A new pair made by ssh-keygen (in a private temporary folder; nothing is left there)."""
    with tempfile.TemporaryDirectory(prefix="appliance-provisioning-") as work:
        path = Path(work) / "key"
        _ssh_keygen(["-q", "-t", "ed25519", "-N", "", "-C", COMMENT, "-f", str(path)])
        public = path.with_suffix(".pub").read_text().split()
        return ProvisioningKey(path.read_text(), f"{public[0]} {public[1]} {COMMENT}")


def keep_provisioning_key(out: Path, key: ProvisioningKey) -> None:
    """Write the pair into `out` unless a pair is there already (done with the images, at the end)."""
    private, public = key_paths(out)
    try:
        fd = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    with os.fdopen(fd, "w") as handle:
        handle.write(key.private)
    public.write_text(key.public + "\n")


def _ssh_keygen(arguments: list[str]) -> str:
    try:
        done = subprocess.run(["ssh-keygen", *arguments], check=True, capture_output=True, text=True,
                              stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        raise BuildFailed("ssh-keygen not found: it makes the master's provisioning key; "
                          "fix: apt-get install openssh-client") from None
    except subprocess.CalledProcessError as error:
        raise BuildFailed(f"ssh-keygen {' '.join(arguments[:2])} failed: {error.stderr.strip()[-200:]}") from None
    return done.stdout
