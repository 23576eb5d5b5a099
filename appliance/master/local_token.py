"""The CLI's way into the running daemon: a secret only root can read, and a Unix socket.

At start the daemon writes a fresh random token to STATE_DIR/web/local_token
(mode 0600) and listens on STATE_DIR/master.sock (mode 0600); `appliance
nodes|tokens|provision|kubeconfig` read the token and send it as
`Authorization: Bearer` over that socket. Nothing of it reaches the network.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

TOKEN_FILE = Path("web") / "local_token"
"""The token's place in STATE_DIR."""
SOCKET_FILE = "master.sock"
"""The daemon's local API socket in STATE_DIR."""


def write_local_token(state_dir: Path) -> str:
    """Make a new token and store it (0600, atomically); return it."""
    token = secrets.token_urlsafe(32)
    path = state_dir / TOKEN_FILE
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as out:
        out.write(token + "\n")
    temporary.replace(path)
    return token


def read_local_token(state_dir: Path) -> str | None:
    """The token, None when there is none (no daemon ran) or it cannot be read (not root)."""
    try:
        return (state_dir / TOKEN_FILE).read_text().strip() or None
    except OSError:
        return None
