"""Making one card of a shared image its own at flash time: host keys, instance-id, the master's key list.

The image file is never changed: the edits go through an `OverlayRegion`,
and the flasher merges its pages into the stream it writes, so what is
verified on the card is exactly the personalised image.

`cards.pub` (beside the image, and on the master card as appliance/cards.pub)
holds one OpenSSH public key line per card key, with the comment
`card=<label> flashed=<ISO 8601 time>`; see `images` for the format.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import secrets
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from hardware.partitions import MalformedPartitionTable, Partition, parse_table
from images.customize import CARDS_PUB, SEED_JSON, read_seed_record
from images.errors import FlashFailed, ImageError
from images.fat import FatVolume, MalformedFat
from images.region import FileRegion, OverlayRegion
from images.seed import PAYLOAD_DIR, HostKey, with_host_keys, with_instance_id

KEY_TYPES = ("ed25519",)
"""Host key types each card gets (the master pins these)."""
LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")


@dataclass(frozen=True)
class CardImage:
    """A card image opened for flashing."""

    path: Path
    """The image file."""
    size: int
    """Its length in bytes."""
    boot: Partition
    """Its boot partition."""
    record: dict[str, object] | None
    """seed.json of an image made by `appliance image build`, None for any other image."""

    @property
    def role(self) -> str | None:
        """master, worker, or None for an image not made by the appliance."""
        role = (self.record or {}).get("role")
        return role if role in ("master", "worker") else None


@dataclass(frozen=True)
class Personalisation:
    """What one card gets on top of the image."""

    label: str
    """The card's name (pi-1, master, or --name)."""
    instance_id: str
    """Its cloud-init instance-id."""
    host_keys: tuple[HostKey, ...]
    """Its SSH host keys."""
    pages: tuple[tuple[int, bytes], ...]
    """(offset in the image, bytes) to write instead of the image's own bytes."""
    cards_carried: int | None
    """For a master card: how many card keys its appliance/cards.pub holds."""


def open_card_image(path: Path, fd: int) -> CardImage:
    """Parse the image's table and read its seed record."""
    size = os.fstat(fd).st_size
    try:
        boot = parse_table(os.pread(fd, 1 << 20, 0)).boot()
        fat = FatVolume(FileRegion(fd, boot.start, boot.size))
        record = read_seed_record(fat)
    except (MalformedPartitionTable, MalformedFat) as error:
        raise ImageError(f"{path}: {error}") from None
    if boot.end > size:
        raise ImageError(f"{path}: the boot partition ends beyond the end of the file (a truncated image)")
    return CardImage(path, size, boot, record)


def check_label(label: str) -> str:
    """A card label is a DNS-label-like name (it ends up in comments and hostnames)."""
    if not LABEL.fullmatch(label):
        raise ImageError(f"card name {label!r} is not a lower-case name like pi-1 (letters, digits, -)")
    return label


def make_host_keys(label: str) -> tuple[HostKey, ...]:
    """Fresh SSH host keys made by ssh-keygen."""
    keys: list[HostKey] = []
    with tempfile.TemporaryDirectory(prefix="appliance-hostkey-") as work:
        for kind in KEY_TYPES:
            path = Path(work) / f"ssh_host_{kind}_key"
            try:
                subprocess.run(["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", f"card={label}", "-f", str(path)],
                               check=True, capture_output=True, stdin=subprocess.DEVNULL)
            except FileNotFoundError:
                raise FlashFailed("ssh-keygen not found: it makes each card's host keys; "
                                  "fix: apt-get install openssh-client") from None
            except subprocess.CalledProcessError as error:
                raise FlashFailed(f"ssh-keygen failed: {error.stderr.decode(errors='replace').strip()}") from None
            keys.append(HostKey(kind, path.read_text(), path.with_suffix(".pub").read_text().strip()))
    return tuple(keys)


def card_key_lines(keys: tuple[HostKey, ...], label: str, now: dt.datetime) -> list[str]:
    """cards.pub lines for a card's keys: `<type> <base64> card=<label> flashed=<time>`."""
    stamp = now.astimezone(dt.UTC).isoformat(timespec="seconds")
    return [" ".join(key.public.split()[:2] + [f"card={label}", f"flashed={stamp}"]) for key in keys]


def count_card_keys(cards_pub: str) -> int:
    """Key lines in a cards.pub text."""
    return sum(1 for line in cards_pub.splitlines() if line.strip() and not line.startswith("#"))


def personalise(image: CardImage, fd: int, label: str, keys: tuple[HostKey, ...], cards_pub: str | None,
                now: dt.datetime) -> Personalisation:
    """The pages that make the card at `fd`'s image this card's own."""
    if image.record is None:
        return Personalisation(label, "", (), (), None)
    instance_id = f"appliance-{label}-{secrets.token_hex(8)}"
    overlay = OverlayRegion(FileRegion(fd, image.boot.start, image.boot.size))
    carried: int | None = None
    try:
        with FatVolume(overlay, now) as fat:
            if image.record.get("mechanism") == "cloud-init":
                fat.write_file("user-data", with_host_keys(fat.read_file("user-data").decode(), keys).encode())
                fat.write_file("meta-data", with_instance_id(fat.read_file("meta-data").decode(), instance_id).encode())
            else:
                for key in keys:
                    fat.write_file(f"{PAYLOAD_DIR}/host-keys/ssh_host_{key.kind}_key", key.private.encode())
                    fat.write_file(f"{PAYLOAD_DIR}/host-keys/ssh_host_{key.kind}_key.pub", (key.public + "\n").encode())
            record = {**image.record, "instance_id": instance_id, "card": label,
                      "flashed_at": now.isoformat(timespec="seconds")}
            fat.write_file(SEED_JSON, (json.dumps(record, indent=2, sort_keys=True) + "\n").encode())
            if image.role == "master":
                text = cards_pub or ""
                fat.write_file(CARDS_PUB, text.encode())
                carried = count_card_keys(text)
    except (MalformedFat, ValueError) as error:
        raise ImageError(f"{image.path}: cannot personalise the card: {error}") from None
    pages = tuple((image.boot.start + offset, data) for offset, data in overlay.pages())
    return Personalisation(label, instance_id, keys, pages, carried)


def next_labels(cards_pub: str, count: int) -> list[str]:
    """pi-N names after the highest already in cards.pub."""
    used = [int(m.group(1)) for m in re.finditer(r"card=pi-(\d+)\b", cards_pub)]
    start = max(used, default=0) + 1
    return [f"pi-{n}" for n in range(start, start + count)]
