"""The discovery CA hash: `sha256:<hex>` of a certificate's DER SubjectPublicKeyInfo.

As kubeadm's util/pubkeypin: `hash_of` computes a pin, `PinSet.allow` parses
`--discovery-token-ca-cert-hash` values with kubeadm's error texts, and
`PinSet.check` is the test discovery runs on the CA found in cluster-info.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.hazmat.primitives import serialization

FORMAT_SHA256 = "sha256"
"""The only pin format kubeadm knows."""


class PinError(ValueError):
    """A pin could not be parsed, or no pin matched; the message is kubeadm's."""


def hash_of(certificate: x509.Certificate) -> str:
    """`sha256:` + lowercase hex SHA-256 of the certificate's DER SubjectPublicKeyInfo."""
    spki = certificate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return FORMAT_SHA256 + ":" + hashlib.sha256(spki).hexdigest()


def load_certificates(pem: bytes) -> list[x509.Certificate]:
    """Every certificate in a PEM bundle (cryptography 38, bookworm's, has no load_pem_x509_certificates)."""
    marker = b"-----END CERTIFICATE-----"
    blocks = [block + marker for block in pem.split(marker) if b"-----BEGIN CERTIFICATE-----" in block]
    if not blocks:
        raise ValueError("no certificate found in the PEM data")
    return [x509.load_pem_x509_certificate(block.strip() + b"\n") for block in blocks]


def hash_of_pem(pem: bytes) -> str:
    """The pin of a PEM certificate."""
    return hash_of(x509.load_pem_x509_certificate(pem))


@dataclass
class PinSet:
    """Allowed public key hashes (kubeadm's pubkeypin.Set)."""

    sha256: set[bytes] = field(default_factory=set)
    """The allowed SHA-256 digests."""

    def allow(self, *pins: str) -> None:
        """Add pins like `sha256:<64 hex>`; PinError with kubeadm's text when malformed."""
        for pin in pins:
            parts = pin.split(":", 1)
            if len(parts) != 2:
                raise PinError('invalid hash, expected "format:hex-value". Known format(s) are: sha256')
            kind, value = parts
            if kind.lower() != FORMAT_SHA256:
                raise PinError(f'unknown hash format "{kind}". Known format(s) are: sha256')
            try:
                digest = bytes.fromhex(value)
            except ValueError as error:
                raise PinError(f"encoding/hex: {_hex_error(value, error)}") from None
            if len(digest) != 32:
                raise PinError(f'invalid hash "{value}", expected a 32 byte SHA-256 hash, '
                               f"found {len(digest)} bytes")
            self.sha256.add(digest)

    def empty(self) -> bool:
        """True when no pin was added."""
        return not self.sha256

    def check(self, certificates: list[x509.Certificate]) -> None:
        """Pass if any certificate's key is pinned; else PinError naming the keys found."""
        found = [hash_of(c) for c in certificates]
        if any(bytes.fromhex(h.split(":", 1)[1]) in self.sha256 for h in found):
            return
        raise PinError(f'none of the public keys "{",".join(found)}" are pinned')


def _hex_error(value: str, error: ValueError) -> str:
    # Go's hex.DecodeString errors: odd length, or the first invalid byte.
    if len(value) % 2:
        return "odd length hex string"
    for char in value:
        if char not in "0123456789abcdefABCDEF":
            return f"invalid byte: U+{ord(char):04X} {char!r}"
    return str(error)
