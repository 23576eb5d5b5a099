"""A cluster.yaml for the image tests, with a real crypt hash, SSH key and Wi-Fi passphrase file."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from foundation.config import load_config
from foundation.config.model import Config

PASSPHRASE = "correct horse battery"


@dataclass(frozen=True)
class ClusterFile:
    """A cluster.yaml written for the tests, with its Wi-Fi passphrase file."""

    path: Path
    """cluster.yaml."""
    config: Config
    """Its loaded form."""
    text: str
    """Its text."""
    psk_file: Path
    """The passphrase file."""


def write_cluster(folder: Path, wifi: bool = True, password: bool = True) -> ClusterFile:
    """A cluster.yaml with a real crypt hash and SSH key (openssl, ssh-keygen)."""
    folder.mkdir(parents=True, exist_ok=True)
    psk = folder / "wifi.psk"
    psk.write_text(PASSPHRASE + "\n")
    psk.chmod(0o600)
    key = folder / "user_key"
    if not key.exists():
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "you@laptop", "-f", str(key)], check=True)
    password_hash = subprocess.run(["openssl", "passwd", "-6", "-salt", "imagetest", "secret"], check=True,
                                   capture_output=True, text=True).stdout.strip()
    lines = ["cluster:", "  name: picluster", "access:", "  user: pi"]
    if password:
        lines.append(f'  password_hash: "{password_hash}"')
    lines += ["  ssh_authorized_keys:", f'    - "{key.with_suffix(".pub").read_text().strip()}"']
    if wifi:
        lines += ["wifi:", "  ssid: HomeNetwork", "  psk_file: wifi.psk", "  country: GB"]
    path = folder / "cluster.yaml"
    path.write_text("\n".join(lines) + "\n")
    return ClusterFile(path, load_config(path), path.read_text(), psk)
