"""Keeping secrets out of job logs, job errors and command output.

Two layers: every secret the runner handles (a join token, an agent
credential) is registered with the job's Redactor the moment it exists, and
exact occurrences are replaced; on top, patterns catch secrets nobody
registered: bootstrap tokens (the id stays visible, it is not secret),
private keys in PEM, kubeconfig key and token fields, bearer headers, and
the agent credential's JSON field.
"""

from __future__ import annotations

import re
import threading

MASK = "<redacted>"

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\b([a-z0-9]{6})\.[a-z0-9]{16}\b"), rf"\1.{MASK}"),
    (re.compile(r"-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----.*?(-----END \1PRIVATE KEY-----|$)", re.DOTALL),
     f"[private key {MASK}]"),
    (re.compile(r"((?:client-key-data|token|password|token-secret)\s*:\s*)\S+", re.IGNORECASE), rf"\1{MASK}"),
    (re.compile(r"(Bearer\s+)\S+", re.IGNORECASE), rf"\1{MASK}"),
    (re.compile(r'("credential"\s*:\s*")[^"]*(")'), rf"\1{MASK}\2"),
)


class Redactor:
    """Replaces registered secrets and secret-looking patterns in text (thread-safe)."""

    def __init__(self) -> None:
        self._secrets: set[str] = set()
        self._lock = threading.Lock()

    def add(self, secret: str | None) -> None:
        """Never show `secret` again (strings shorter than 6 characters are too common to mask)."""
        if secret and len(secret) >= 6:
            with self._lock:
                self._secrets.add(secret)

    def __call__(self, text: str) -> str:
        """`text` with every secret masked."""
        with self._lock:
            known = sorted(self._secrets, key=len, reverse=True)
        for secret in known:
            text = text.replace(secret, MASK)
        for pattern, replacement in _PATTERNS:
            text = pattern.sub(replacement, text)
        return text


def one_line(text: str, limit: int = 400) -> str:
    """Collapse white space and cut to `limit` characters (job errors are one line)."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"
