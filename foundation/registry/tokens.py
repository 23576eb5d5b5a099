"""The `tokens` table: Kubernetes bootstrap tokens, stored without their secret half.

A bootstrap token is `[a-z0-9]{6}.[a-z0-9]{16}`: a public id and a secret.
Only SHA-256 of the secret is kept. A slow password hash is not needed: the
secret is 16 random characters (~82 bits), far beyond guessing, so a plain
digest already makes a leaked registry useless for joining.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import sqlite3

from foundation.errors import RegistryError, UsageError
from foundation.registry import history
from foundation.registry.db import transaction
from foundation.registry.models import TokenRow

TOKEN_RE = re.compile(r"^([a-z0-9]{6})\.([a-z0-9]{16})$")
DEFAULT_USAGES = ("signing", "authentication")
_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
_COLUMNS = "id, secret_hash, description, expires, usages, created"


def generate_token() -> str:
    """A fresh random bootstrap token `xxxxxx.yyyyyyyyyyyyyyyy`."""
    pick = secrets.choice
    return (
        "".join(pick(_ALPHABET) for _ in range(6))
        + "."
        + "".join(pick(_ALPHABET) for _ in range(16))
    )


def hash_secret(secret: str) -> str:
    """The stored form of a secret."""
    return hashlib.sha256(secret.encode()).hexdigest()


def token_from_row(row: sqlite3.Row) -> TokenRow:
    """A TokenRow from a `SELECT {_COLUMNS}` row."""
    usages = tuple(row["usages"].split(",")) if row["usages"] else ()
    return TokenRow(
        id=row["id"], secret_hash=row["secret_hash"], description=row["description"],
        expires=row["expires"], usages=usages, created=row["created"],
    )  # fmt: skip


def store_token(
    conn: sqlite3.Connection,
    token: str,
    *,
    description: str,
    expires: float | None,
    now: float,
    usages: tuple[str, ...] = DEFAULT_USAGES,
) -> TokenRow:
    """Record a token minted elsewhere (e.g. by kubeadm); only its secret's hash is kept."""
    match = TOKEN_RE.match(token)
    if match is None:
        raise UsageError(
            "a bootstrap token must look like abcdef.0123456789abcdef ([a-z0-9]{6}.[a-z0-9]{16})"
        )
    if any("," in usage or not usage for usage in usages):
        raise UsageError(f"token usages must be non-empty words without commas, got {usages!r}")
    row = TokenRow(
        id=match.group(1), secret_hash=hash_secret(match.group(2)), description=description,
        expires=expires, usages=tuple(usages), created=now,
    )  # fmt: skip
    try:
        with transaction(conn):
            conn.execute(
                f"INSERT INTO tokens ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    row.id,
                    row.secret_hash,
                    row.description,
                    row.expires,
                    ",".join(row.usages),
                    row.created,
                ),
            )
            history.append_event(
                conn, kind="token.created", node=None, message=f"token {row.id} created", now=now
            )
    except sqlite3.IntegrityError:
        raise RegistryError(f"token id {row.id} already exists — mint a new token") from None
    return row


def create_token(
    conn: sqlite3.Connection,
    *,
    description: str,
    ttl: float | None,
    now: float,
    usages: tuple[str, ...] = DEFAULT_USAGES,
) -> tuple[TokenRow, str]:
    """Mint and record a token; returns the row and the full token (show it once, never again).

    `ttl` None or 0 means the token never expires (as kubeadm's --ttl 0).
    """
    token = generate_token()
    expires = now + ttl if ttl else None
    return store_token(
        conn, token, description=description, expires=expires, now=now, usages=usages
    ), token


def list_tokens(conn: sqlite3.Connection) -> list[TokenRow]:
    """Every token, oldest first."""
    return [
        token_from_row(row)
        for row in conn.execute(f"SELECT {_COLUMNS} FROM tokens ORDER BY created, id")
    ]


def get_token(conn: sqlite3.Connection, token_id: str) -> TokenRow | None:
    """The token with this id, or None."""
    row = conn.execute(f"SELECT {_COLUMNS} FROM tokens WHERE id = ?", (token_id,)).fetchone()
    return token_from_row(row) if row is not None else None


def revoke_token(conn: sqlite3.Connection, token_id: str, *, now: float) -> None:
    """Delete a token; RegistryError if there is none with that id."""
    with transaction(conn):
        if conn.execute("DELETE FROM tokens WHERE id = ?", (token_id,)).rowcount == 0:
            raise RegistryError(f"no token with id {token_id!r} — a token id is the 6 characters before the dot")
        history.append_event(
            conn, kind="token.revoked", node=None, message=f"token {token_id} revoked", now=now
        )


def verify_token(conn: sqlite3.Connection, token: str, *, now: float) -> bool:
    """Whether `token` is a recorded, unexpired token (constant-time comparison of the hash)."""
    match = TOKEN_RE.match(token)
    if match is None:
        return False
    row = get_token(conn, match.group(1))
    if row is None or (row.expires is not None and row.expires <= now):
        return False
    return hmac.compare_digest(row.secret_hash, hash_secret(match.group(2)))


def purge_expired_tokens(conn: sqlite3.Connection, *, now: float) -> int:
    """Delete tokens past their expiry; return how many."""
    with transaction(conn):
        return conn.execute(
            "DELETE FROM tokens WHERE expires IS NOT NULL AND expires <= ?", (now,)
        ).rowcount
