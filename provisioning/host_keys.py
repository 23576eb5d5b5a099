"""SSH host keys: parsing, fingerprints, the pinning policy (pure), and the card keys importer.

Which key a node may present, in order:
- a key is pinned to the node: only that key is accepted; another one is
  refused with one line naming the node, both fingerprints and the command
  that accepts a re-imaged node (`appliance nodes accept-key NODE`);
- no pin, and the key is a card key (`appliance flash` generated the card's
  host key and listed it in cards.pub): pinned, source `card`;
- no pin, unknown key: with `provisioning.host_keys: cards` refused; with
  `trust-on-first-use` pinned (source `tofu`, an event records it); `auto`
  (the default) means `cards` once any card key is known, else TOFU.

cards.pub lines look like `ssh-ed25519 AAAA… card=pi-1 flashed=2025-01-02T03:04:05Z`;
`appliance flash` writes them and copies the file to the master card's boot
partition as `appliance/cards.pub`; the card's first-boot installer copies it to
`STATE_DIR/cards.pub`, which the master imports at start (`import_card_keys`).
Bad lines are skipped and counted, never fatal.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import sqlite3
import struct
from dataclasses import dataclass
from pathlib import Path

from foundation import registry
from foundation.errors import ApplianceError
from foundation.registry import HostKeyRow, HostKeySource

CARDS_FILE = Path("cards.pub")
"""Where the master finds the card keys, relative to its state directory: the master card's
installer copies them there from the boot partition (`appliance/cards.pub`), and the lab does
the same for its master daemon from the master's card file."""

POLICIES = ("auto", "cards", "trust-on-first-use")
"""Values of `provisioning.host_keys`."""

KEY_TYPES = frozenset({
    "ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
    "ssh-rsa", "rsa-sha2-256", "rsa-sha2-512",
})  # fmt: skip
"""Host key types sshd offers (RSA keys are named ssh-rsa in files)."""

MAX_KEY_TEXT = 16384
"""Longer than any real public key (RSA 16384-bit is ~2.8 kB in base64)."""


class HostKeyError(ApplianceError, ValueError):
    """A public key's text is not `type base64` of a known type."""


@dataclass(frozen=True)
class PublicKey:
    """An SSH public key, as sshd presents it."""

    type: str
    """Key type, e.g. ssh-ed25519."""
    blob: bytes
    """The key in SSH wire format (what base64 encodes in a .pub line)."""

    @property
    def text(self) -> str:
        """`type base64`, the form the registry stores and compares."""
        return f"{self.type} {base64.b64encode(self.blob).decode()}"

    @property
    def fingerprint(self) -> str:
        """OpenSSH's fingerprint: SHA256: and unpadded base64 of the blob's SHA-256."""
        digest = base64.b64encode(hashlib.sha256(self.blob).digest()).decode().rstrip("=")
        return f"SHA256:{digest}"


def parse_public_key(text: str) -> PublicKey:
    """`type base64 [comment]` → PublicKey; HostKeyError when it is not a well-formed key."""
    if len(text) > MAX_KEY_TEXT:
        raise HostKeyError(f"public key text is {len(text)} characters long; no real key is")
    parts = text.split()
    if len(parts) < 2:
        raise HostKeyError("a public key is `TYPE BASE64`, e.g. ssh-ed25519 AAAAC3Nza…")
    kind, encoded = parts[0], parts[1]
    if kind not in KEY_TYPES:
        raise HostKeyError(f"unknown key type {kind[:40]!r}; expected one of {', '.join(sorted(KEY_TYPES))}")
    try:
        blob = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise HostKeyError(f"{kind} key: the key part is not base64") from None
    # The blob starts with its own type as an SSH string; a mismatch means a garbled line.
    if len(blob) < 4:
        raise HostKeyError(f"{kind} key: the key part is too short")
    (length,) = struct.unpack(">I", blob[:4])
    inner = blob[4 : 4 + length]
    wire_type = "ssh-rsa" if kind.startswith("rsa-sha2-") else kind
    if length != len(inner) or inner != wire_type.encode():
        raise HostKeyError(f"{kind} key: the key part does not hold a {wire_type} key")
    return PublicKey(wire_type, blob)


@dataclass(frozen=True)
class CardKey:
    """One line of cards.pub: a host key generated for a flashed card."""

    key: PublicKey
    """The card's SSH host key."""
    card: str | None
    """The card's label (card=…), e.g. pi-1."""
    flashed: str | None
    """When it was flashed (flashed=…), as written."""


def parse_cards_file(text: str) -> tuple[list[CardKey], int]:
    """The card keys in a cards.pub text, and how many lines were skipped as malformed."""
    keys: list[CardKey] = []
    skipped = 0
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            key = parse_public_key(line)
        except HostKeyError:
            skipped += 1
            continue
        labels = dict(part.split("=", 1) for part in line.split()[2:] if "=" in part)
        card = labels.get("card") or None
        keys.append(CardKey(key, card[:64] if card else None, labels.get("flashed")))
    return keys, skipped


def import_card_keys(conn: sqlite3.Connection, path: Path, *, now: float) -> tuple[int, int]:
    """Record the keys of a cards.pub file (missing file: nothing); return (new keys, skipped lines)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return 0, 0
    except OSError as error:
        raise HostKeyError(f"{path}: cannot read the card keys ({error.strerror}); check its permissions") from None
    keys, skipped = parse_cards_file(text)
    added = 0
    with registry.transaction(conn):
        for card_key in keys:
            added += registry.add_card_key(conn, card_key.key.text, card_key.key.fingerprint,
                                           card=card_key.card, now=now)
    return added, skipped


@dataclass(frozen=True)
class Verdict:
    """What to do with the key a node presented."""

    accept: bool
    """True: go on with the connection."""
    pin: HostKeySource | None
    """Record the key as this node's pin, with this source (None: nothing to record)."""
    message: str
    """Why (the refusal a user sees, or a note for the job log)."""


def judge(
    node: str,
    where: str,
    presented: PublicKey,
    *,
    pinned: HostKeyRow | None,
    known: HostKeyRow | None,
    policy: str,
    card_keys_known: int,
) -> Verdict:
    """The policy above: `pinned` is the node's pin, `known` the registry's row of the presented key.

    `where` names the node for messages (`node-2 (10.0.0.3)`).
    """
    if policy not in POLICIES:
        raise ValueError(f"unknown host key policy {policy!r}")
    fingerprint = presented.fingerprint
    accept_fix = f"appliance nodes accept-key {node}"
    if pinned is not None:
        if pinned.key == presented.text:
            return Verdict(True, None, f"host key {fingerprint} matches the pinned key")
        return Verdict(False, None, f"{where}: SSH host key changed (was {pinned.fingerprint}, now "
                                    f"{fingerprint}); if you re-imaged it, run: {accept_fix}")
    if known is not None and known.node not in (None, node):
        return Verdict(False, None, f"{where}: SSH host key {fingerprint} is pinned to {known.node}; "
                                    "two nodes with one host key are copies of one card — re-image one")
    if known is not None and known.source is HostKeySource.CARD:
        label = f" of card {known.card}" if known.card else ""
        return Verdict(True, HostKeySource.CARD, f"host key {fingerprint} is the key{label}: pinned")
    strict = policy == "cards" or (policy == "auto" and card_keys_known > 0)
    if strict:
        return Verdict(False, None, f"{where}: SSH host key {fingerprint} is on no flashed card "
                                    f"(provisioning.host_keys: {policy}); if you trust it, run: {accept_fix}")
    return Verdict(True, HostKeySource.TOFU, f"host key {fingerprint} trusted on first use: pinned")
