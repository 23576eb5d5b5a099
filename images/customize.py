"""Everything a card's boot partition gets, as a map of path -> bytes (pure), and putting it there.

`card_files` decides the whole content from cluster.yaml, the role, the
base's boot files and the wheelhouse; `apply_files` writes the map into a
`FatVolume`. Building an image, flashing a card (personalising it) and the
tests all go through these two functions.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from foundation.config.model import Config
from hardware.boot import plan_boot_files
from images.errors import ImageError
from images.fat import FatVolume
from images.payload import card_cluster_yaml, installer_script, unit_file
from images.provisioning_key import CARD_PRIVATE, CARD_PUBLIC, ProvisioningKey
from images.seed import (
    PAYLOAD_DIR,
    CardSeed,
    cloud_init_cmdline,
    firstrun_cmdline,
    firstrun_script,
    hostname_of,
    meta_data,
    network_config,
    user_data,
)

CLOUD_INIT_FILES = ("user-data", "meta-data", "network-config")
SEED_JSON = f"{PAYLOAD_DIR}/seed.json"
CARDS_PUB = f"{PAYLOAD_DIR}/cards.pub"


@dataclass(frozen=True)
class BaseFacts:
    """What the base image's boot partition says about how it boots."""

    mechanism: str
    """`cloud-init` when the boot partition ships NoCloud files, else `firstrun`."""
    cmdline: str
    """Text of cmdline.txt."""
    config_txt: str
    """Text of config.txt."""


def detect_mechanism(names: set[str]) -> str:
    """`cloud-init` or `firstrun` from the names at the top of a base image's boot partition."""
    lowered = {name.lower() for name in names}
    if PAYLOAD_DIR in lowered:
        raise ImageError("this image was already made by `appliance image build`; build from the official "
                         "Raspberry Pi OS image instead")
    return "cloud-init" if lowered & set(CLOUD_INIT_FILES) else "firstrun"


def read_base_facts(fat: FatVolume, where: str) -> BaseFacts:
    """The boot partition's mechanism, cmdline.txt and config.txt."""
    names = {entry.name for entry in fat.listdir("/")}
    texts: dict[str, str] = {}
    for name in ("cmdline.txt", "config.txt"):
        if fat.stat(name) is None:
            raise ImageError(f"{where}: the boot partition has no {name}; is this a Raspberry Pi OS image?")
        raw = fat.read_file(name)
        if len(raw) > 64 * 1024:
            raise ImageError(f"{where}: {name} is {len(raw)} bytes, not a Raspberry Pi boot file")
        texts[name] = raw.decode("utf-8", "replace")
    return BaseFacts(detect_mechanism(names), texts["cmdline.txt"], texts["config.txt"])


def card_files(config: Config, config_text: str, base: BaseFacts, seed: CardSeed, psk: str | None,
               wheels: Mapping[str, bytes], info: Mapping[str, object],
               master_key: ProvisioningKey | None = None) -> dict[str, bytes]:
    """Every file the card's boot partition gets (new or replaced), by path.

    `master_key`: the provisioning key pair, whose private half only a master card carries."""
    contents: dict[str, str | None] = {"/boot/firmware/cmdline.txt": base.cmdline,
                                       "/boot/firmware/config.txt": base.config_txt}
    edited = {edit.path: edit.content for edit in plan_boot_files(contents, seed.role)}
    cmdline = edited.get("/boot/firmware/cmdline.txt", base.cmdline)
    config_txt = edited.get("/boot/firmware/config.txt", base.config_txt)
    files: dict[str, bytes] = {}
    if base.mechanism == "cloud-init":
        cmdline = cloud_init_cmdline(cmdline, config)
        files["user-data"] = user_data(config, seed).encode()
        files["meta-data"] = meta_data(config, seed).encode()
        files["network-config"] = network_config(config, seed.role, psk).encode()
    else:
        cmdline = firstrun_cmdline(cmdline)
        files["firstrun.sh"] = firstrun_script(config, seed.role, psk, seed.provisioning_key).encode()
    files["cmdline.txt"] = cmdline.encode()
    if config_txt != base.config_txt:
        files["config.txt"] = config_txt.encode()
    files[f"{PAYLOAD_DIR}/install.sh"] = installer_script().encode()
    files[f"{PAYLOAD_DIR}/appliance.service"] = unit_file(config, seed.role).encode()
    if seed.role == "master":
        files[f"{PAYLOAD_DIR}/cluster.yaml"] = card_cluster_yaml(config_text, config).encode()
        if master_key is not None:
            files[CARD_PRIVATE] = master_key.private.encode()
            files[CARD_PUBLIC] = (master_key.public + "\n").encode()
    for name, data in wheels.items():
        files[f"{PAYLOAD_DIR}/wheels/{name}"] = data
    record = {
        "format": 1,
        "role": seed.role,
        "mechanism": base.mechanism,
        "cluster": config.cluster.name,
        "hostname": hostname_of(config, seed.role),
        "user": config.access.user,
        "instance_id": seed.instance_id,
        **info,
    }
    files[SEED_JSON] = (json.dumps(record, indent=2, sort_keys=True) + "\n").encode()
    return files


def apply_files(fat: FatVolume, files: Mapping[str, bytes]) -> None:
    """Write every file into the boot partition (directories made as needed)."""
    for path in sorted(files, key=lambda p: (p.count("/"), p)):
        fat.write_file(path, files[path])


def read_seed_record(fat: FatVolume) -> dict[str, object] | None:
    """The seed.json a built image carries, or None for a base image."""
    if fat.stat(SEED_JSON) is None:
        return None
    raw = fat.read_file(SEED_JSON)
    try:
        record = json.loads(raw[:1 << 20])
    except ValueError:
        return None
    return record if isinstance(record, dict) else None
