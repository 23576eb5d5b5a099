"""Bootstrap tokens as the API stores them, and the discovery CA hash (pure; no I/O).

A bootstrap token is `[a-z0-9]{6}.[a-z0-9]{16}` (cluster-bootstrap's
BootstrapTokenPattern): the id is public, the secret is not. The API server
keeps it as Secret `kube-system/bootstrap-token-<id>` of type
`bootstrap.kubernetes.io/token` with base64 fields token-id, token-secret,
expiration (RFC 3339, UTC), usage-bootstrap-<usage>: "true", description and
auth-extra-groups. `secret_body` and `token_from_secret` convert both ways.

The discovery hash that `kubeadm join --discovery-token-ca-cert-hash` pins is
`sha256:` + hex of SHA-256 over the DER SubjectPublicKeyInfo of the CA
certificate (kubeadm's pubkeypin package).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from appliance.kube.errors import KubeUnavailable

TOKEN_RE = re.compile(r"\A([a-z0-9]{6})\.([a-z0-9]{16})\Z")
TOKEN_ID_RE = re.compile(r"\A([a-z0-9]{6})\Z")
GROUP_RE = re.compile(r"\Asystem:bootstrappers:[a-z0-9:-]{0,255}[a-z0-9]\Z")
TOKEN_TYPE = "bootstrap.kubernetes.io/token"
SECRET_PREFIX = "bootstrap-token-"
USAGES = ("signing", "authentication")
"""kubeadm's default usages (the only ones there are)."""
DEFAULT_GROUPS = ("system:bootstrappers:kubeadm:default-node-token",)
"""kubeadm's default extra group: what the node bootstrapper RBAC of kubeadm init binds."""
_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"


@dataclass(frozen=True)
class BootstrapToken:
    """A bootstrap token as the appliance shows it."""

    id: str
    """The public half."""
    description: str
    """What it is for."""
    expires: float | None
    """Unix time it stops working; None never."""
    usages: tuple[str, ...]
    """Sorted usages, e.g. ("authentication", "signing")."""
    token: str | None = None
    """The whole token: only on the object create_token returns, never from a list."""


def is_valid_token(text: str) -> bool:
    """cluster-bootstrap's IsValidBootstrapToken."""
    return TOKEN_RE.match(text) is not None


def is_valid_token_id(text: str) -> bool:
    """cluster-bootstrap's IsValidBootstrapTokenID."""
    return TOKEN_ID_RE.match(text) is not None


def generate_token() -> str:
    """A fresh token, every character uniformly from [a-z0-9] (secrets.choice)."""
    pick = secrets.choice
    return "".join(pick(_ALPHABET) for _ in range(6)) + "." + "".join(pick(_ALPHABET) for _ in range(16))


def rfc3339(when: float) -> str:
    """UTC RFC 3339 with a Z, as kubeadm writes expirations."""
    return datetime.fromtimestamp(when, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339(text: str) -> float | None:
    """Unix time of an RFC 3339 timestamp, None when it is not one."""
    try:
        parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return None
    return parsed.timestamp()


def secret_body(token: str, *, description: str, expires: float | None,
                usages: tuple[str, ...] = USAGES, groups: tuple[str, ...] = DEFAULT_GROUPS) -> dict[str, object]:
    """The Secret that makes `token` a bootstrap token (ValueError for a malformed token or group)."""
    match = TOKEN_RE.match(token)
    if match is None:
        raise ValueError("a bootstrap token must look like abcdef.0123456789abcdef ([a-z0-9]{6}.[a-z0-9]{16})")
    for group in groups:
        if not GROUP_RE.match(group):
            raise ValueError(f"bootstrap group {group!r} is invalid")
    unknown = set(usages) - set(USAGES)
    if unknown:
        raise ValueError(f"invalid bootstrap token usage {', '.join(sorted(unknown))}; valid: {', '.join(USAGES)}")
    fields = {"token-id": match.group(1), "token-secret": match.group(2), "description": description,
              "auth-extra-groups": ",".join(groups)}
    if expires is not None:
        fields["expiration"] = rfc3339(expires)
    for usage in usages:
        fields[f"usage-bootstrap-{usage}"] = "true"
    return {
        "apiVersion": "v1", "kind": "Secret", "type": TOKEN_TYPE,
        "metadata": {"name": SECRET_PREFIX + match.group(1), "namespace": "kube-system"},
        "data": {key: base64.b64encode(value.encode()).decode() for key, value in fields.items()},
    }


def _field(data: dict[str, object], key: str) -> str | None:
    value = data.get(key)
    if not isinstance(value, str):
        return None
    try:
        return base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None


def token_from_secret(secret: object) -> BootstrapToken | None:
    """The token a bootstrap-token Secret describes, without its secret half; None when it is not one."""
    if not isinstance(secret, dict) or secret.get("type") != TOKEN_TYPE:
        return None
    data = secret.get("data")
    if not isinstance(data, dict):
        return None
    token_id = _field(data, "token-id") or ""
    if not is_valid_token_id(token_id):
        return None
    expiration = _field(data, "expiration")
    usages = tuple(sorted(key.removeprefix("usage-bootstrap-") for key in data
                          if isinstance(key, str) and key.startswith("usage-bootstrap-")
                          and _field(data, key) == "true"))
    return BootstrapToken(
        id=token_id,
        description=(_field(data, "description") or "")[:500],
        expires=parse_rfc3339(expiration) if expiration else None,
        usages=usages,
    )


def ca_cert_hash(ca_pem: bytes) -> str:
    """`sha256:<hex>` of the first CA certificate's DER SubjectPublicKeyInfo (kubeadm's pubkeypin)."""
    # Imported here: only joins and `tokens create` need it, so a re-run's start does not pay for it.
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    try:
        certificate = x509.load_pem_x509_certificate(ca_pem)
    except ValueError as error:
        raise KubeUnavailable(f"the cluster CA certificate cannot be read ({error}); "
                              "copy admin.conf from the master again (appliance provision MASTER)") from None
    spki = certificate.public_key().public_bytes(serialization.Encoding.DER,
                                                 serialization.PublicFormat.SubjectPublicKeyInfo)
    return "sha256:" + hashlib.sha256(spki).hexdigest()
