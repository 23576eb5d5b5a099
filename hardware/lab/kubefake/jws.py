"""JWS HS256 with a detached payload: the signatures in the `cluster-info` ConfigMap.

As cluster-bootstrap/token/jws: the bootstrap signer signs the kubeconfig in
`cluster-info` with each signing token's secret, key id = token id, and stores
`<header>..<signature>` (compact serialization with the payload cut out) under
`jws-kubeconfig-<id>`. Discovery puts the payload back and checks the MAC.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json

from .textfmt import go_json


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def detached_signature(content: str, token_id: str, token_secret: str) -> str:
    """`header..signature` over `content`, HMAC-SHA256 keyed by the token secret."""
    header = _b64url(go_json({"alg": "HS256", "kid": token_id}).encode())
    payload = _b64url(content.encode())
    mac = hmac.new(token_secret.encode(), f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}..{_b64url(mac)}"


def detached_token_is_valid(signature: str, content: str, token_id: str, token_secret: str) -> bool:
    """True if `signature` is a valid detached HS256 JWS of `content` by this token."""
    parts = signature.split(".")
    if len(parts) != 3 or parts[1] != "":
        return False
    header_b64, _, mac_b64 = parts
    try:
        header = json.loads(_unb64url(header_b64))
        mac = _unb64url(mac_b64)
    except (ValueError, binascii.Error):
        return False
    if not isinstance(header, dict) or header.get("alg") != "HS256" or header.get("kid") != token_id:
        return False
    payload = _b64url(content.encode())
    expected = hmac.new(token_secret.encode(), f"{header_b64}.{payload}".encode(), hashlib.sha256).digest()
    return hmac.compare_digest(mac, expected)
