"""Fixtures of the image tests: base images made by the generator, a cluster.yaml, the wheelhouse."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from foundation.config import load_config
from foundation.config.model import Config
from tests.images.base_image import BaseImage, make_base_image, small_root, xz_compress

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


@pytest.fixture(scope="session")
def root_slice(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return small_root(tmp_path_factory.mktemp("root") / "root")


@pytest.fixture(scope="session")
def trixie_base(tmp_path_factory: pytest.TempPathFactory, root_slice: Path) -> BaseImage:
    return make_base_image(tmp_path_factory.mktemp("trixie") / "trixie.img", "trixie", root_slice, size_mib=640)


@pytest.fixture(scope="session")
def trixie_xz(trixie_base: BaseImage) -> Path:
    return xz_compress(trixie_base.path)


@pytest.fixture(scope="session")
def bookworm_base(tmp_path_factory: pytest.TempPathFactory, root_slice: Path) -> BaseImage:
    return make_base_image(tmp_path_factory.mktemp("bookworm") / "bookworm.img", "bookworm", root_slice,
                           size_mib=640)


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> ClusterFile:
    return write_cluster(tmp_path_factory.mktemp("cluster"))


@pytest.fixture(scope="session")
def wheelhouse() -> Path:
    """The real wheelhouse for this machine's arch and the lab root's Python (cached across runs)."""
    from images.wheels import ensure_wheelhouse, host_arch
    from tests.images.base_image import lab_root_python

    return ensure_wheelhouse(host_arch(), lab_root_python())
