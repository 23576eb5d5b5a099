"""Bootstrap tokens as kubeadm and the API server know them (cluster-bootstrap/token, kubeadm v1).

Pure: parsing, generation from given random bytes, the Secret's data, and the
`kubeadm token list` text and JSON. The formats follow kubeadm's sources
(reference/kubeadm.md §1); the text and JSON renderings are byte-exact.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from .textfmt import go_json, parse_rfc3339, rfc3339, short_human_duration, tabwrite

TOKEN_PATTERN = r"\A([a-z0-9]{6})\.([a-z0-9]{16})\z"
"""BootstrapTokenPattern, printed as Go does (`\\z`; Python's re spells it `\\Z`)."""
TOKEN_ID_PATTERN = r"\A([a-z0-9]{6})\z"
"""BootstrapTokenIDPattern."""
_TOKEN_RE = re.compile(r"\A([a-z0-9]{6})\.([a-z0-9]{16})\Z")
_TOKEN_ID_RE = re.compile(r"\A([a-z0-9]{6})\Z")

SECRET_TYPE = "bootstrap.kubernetes.io/token"
"""Type of the Secret that holds a bootstrap token."""
SECRET_PREFIX = "bootstrap-token-"
"""Name of the Secret is this plus the token id."""
DEFAULT_TTL = timedelta(hours=24)
"""kubeadm's default token TTL."""
DEFAULT_USAGES = ("signing", "authentication")
"""kubeadm's default usages."""
DEFAULT_GROUPS = ("system:bootstrappers:kubeadm:default-node-token",)
"""kubeadm's default extra group."""
KNOWN_USAGES = ("signing", "authentication")
"""Usages the bootstrap token API knows."""
GROUP_PATTERN = re.compile(r"\Asystem:bootstrappers:[a-z0-9:-]{0,255}[a-z0-9]\Z")
"""Extra groups must match this (BootstrapGroupPattern)."""
_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"


class TokenError(ValueError):
    """A token or token option is malformed; the message is kubeadm's."""


def go_quote(text: str) -> str:
    """Go's %q of a string (enough for our ASCII texts): backslashes and quotes escaped."""
    return json.dumps(text, ensure_ascii=False)


@dataclass(frozen=True)
class TokenString:
    """A bootstrap token `id.secret`."""

    id: str
    """The public 6-character id."""
    secret: str
    """The private 16-character secret."""

    def __str__(self) -> str:
        return f"{self.id}.{self.secret}"


def parse_token(text: str) -> TokenString:
    """Parse `id.secret`, or raise kubeadm's NewBootstrapTokenString error."""
    match = _TOKEN_RE.match(text)
    if not match:
        raise TokenError(f"the bootstrap token {go_quote(text)} was not of the form {go_quote(TOKEN_PATTERN)}")
    return TokenString(match.group(1), match.group(2))


def is_token_id(text: str) -> bool:
    """True for a valid 6-character token id."""
    return bool(_TOKEN_ID_RE.match(text))


def generate_token(random: bytes | None = None) -> TokenString:
    """A new random token; `random` (22+ bytes) makes it deterministic for tests.

    Like cluster-bootstrap's randBytes, each byte picks a character modulo 36
    after rejecting bytes >= 252, so every character is equally likely.
    """
    chars: list[str] = []
    source = iter(random) if random is not None else None
    while len(chars) < 22:
        byte = next(source) if source is not None else secrets.randbits(8)
        if byte < 252:
            chars.append(_ALPHABET[byte % 36])
    text = "".join(chars)
    return TokenString(text[:6], text[6:])


@dataclass
class BootstrapToken:
    """kubeadm's BootstrapToken: what a bootstrap-token Secret means."""

    token: TokenString
    """The token."""
    description: str = ""
    """Human-friendly description."""
    expires: datetime | None = None
    """When it expires (UTC); None = never."""
    usages: list[str] = field(default_factory=lambda: list(DEFAULT_USAGES))
    """Usages (signing, authentication)."""
    groups: list[str] = field(default_factory=lambda: list(DEFAULT_GROUPS))
    """Extra groups it authenticates as."""

    def expired(self, now: datetime) -> bool:
        """True once `now` is past the expiration."""
        return self.expires is not None and now >= self.expires


def validate_usages(usages: list[str]) -> None:
    """kubeadm's check of --usages."""
    for usage in usages:
        if usage not in KNOWN_USAGES:
            raise TokenError(f"invalid bootstrap token usage string: {usage}, "
                             f"valid usage options: {', '.join(KNOWN_USAGES)}")


def validate_groups(groups: list[str]) -> None:
    """kubeadm's check of --groups."""
    for group in groups:
        if not GROUP_PATTERN.match(group):
            raise TokenError(f"bootstrap group {go_quote(group)} is invalid "
                             f"(must match {GROUP_PATTERN.pattern.replace(chr(92) + 'Z', chr(92) + 'z')})")


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def to_secret(token: BootstrapToken) -> dict[str, object]:
    """The Secret object that stores `token` (as kubeadm's BootstrapToken.ToSecret)."""
    data = {"token-id": _b64(token.token.id), "token-secret": _b64(token.token.secret)}
    if token.description:
        data["description"] = _b64(token.description)
    if token.expires is not None:
        data["expiration"] = _b64(rfc3339(token.expires))
    for usage in token.usages:
        data[f"usage-bootstrap-{usage}"] = _b64("true")
    if token.groups:
        data["auth-extra-groups"] = _b64(",".join(token.groups))
    return {
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": SECRET_PREFIX + token.token.id, "namespace": "kube-system"},
        "type": SECRET_TYPE, "data": data,
    }


def secret_data(secret: dict[str, object]) -> dict[str, str]:
    """A Secret's data decoded to text; undecodable values are dropped."""
    raw = secret.get("data")
    decoded: dict[str, str] = {}
    if isinstance(raw, dict):
        for key, value in raw.items():
            try:
                decoded[str(key)] = base64.b64decode(str(value), validate=True).decode()
            except (ValueError, UnicodeDecodeError):
                continue
    return decoded


def from_secret(secret: dict[str, object]) -> BootstrapToken:
    """kubeadm's BootstrapTokenFromSecret; raises TokenError with its message."""
    metadata = secret.get("metadata")
    name = metadata.get("name", "") if isinstance(metadata, dict) else ""
    data = secret_data(secret)
    token_id = data.get("token-id", "")
    if not token_id:
        raise TokenError(f"bootstrap Token Secret has no token-id data: {name}")
    if name != SECRET_PREFIX + token_id:
        raise TokenError(f"bootstrap token name is not of the form '{SECRET_PREFIX}(token-id)'. "
                         f"Actual: {go_quote(str(name))}. Expected: {go_quote(SECRET_PREFIX + token_id)}")
    token = parse_token(f"{token_id}.{data.get('token-secret', '')}")
    expires = None
    if data.get("expiration"):
        try:
            expires = parse_rfc3339(data["expiration"])
        except ValueError as error:
            raise TokenError(f"can't parse expiration time of bootstrap token {go_quote(str(name))}: {error}") from None
    usages = sorted(key[len("usage-bootstrap-"):] for key, value in data.items()
                    if key.startswith("usage-bootstrap-") and value == "true")
    groups = [g for g in data.get("auth-extra-groups", "").split(",") if g]
    return BootstrapToken(token=token, description=data.get("description", ""),
                          expires=expires, usages=usages, groups=groups)


def list_text(tokens: list[BootstrapToken], now: datetime) -> str:
    """`kubeadm token list` as text (tabwriter 10,4,3 with kubeadm's padded cells)."""
    rows = [["TOKEN", "TTL", "EXPIRES", "USAGES", "DESCRIPTION", "EXTRA GROUPS"]]
    for token in tokens:
        ttl, expires = "<forever>", "<never>"
        if token.expires is not None:
            ttl = short_human_duration(token.expires - now)
            expires = rfc3339(token.expires)
        rows.append([
            str(token.token), f"{ttl:<9}", expires, f"{','.join(token.usages) or '<none>':<22}",
            f"{token.description or '<none>':<56}", ",".join(token.groups) or "<none>",
        ])
    return tabwrite(rows, minwidth=10, padding=3)


def output_object(token: BootstrapToken) -> dict[str, object]:
    """The output.kubeadm.k8s.io/v1alpha3 BootstrapToken object (fields in Go's order)."""
    obj: dict[str, object] = {"kind": "BootstrapToken", "apiVersion": "output.kubeadm.k8s.io/v1alpha3",
                              "token": str(token.token)}
    if token.description:
        obj["description"] = token.description
    if token.expires is not None:
        obj["expires"] = rfc3339(token.expires)
    if token.usages:
        obj["usages"] = list(token.usages)
    if token.groups:
        obj["groups"] = list(token.groups)
    return obj


def list_json(tokens: list[BootstrapToken]) -> str:
    """`kubeadm token list -o json`: one 4-space-indented object per token, each on its own."""
    return "".join(go_json(output_object(t), indent=4) + "\n" for t in tokens)
