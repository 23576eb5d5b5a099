"""The agent's credential file in its state directory (`DIR/credential`, mode 0600).

The provisioner writes it (text from `credential_file_text`) when it installs
the agent; the agent reads it at start and again after a 401 (the credential
may have been re-issued). A file that others can read is refused: the
secret would be exposed.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from foundation.errors import ConfigError
from foundation.records import AGENT_CREDENTIAL_FILE, AgentCredential
from netd.agent.protocol import parse_bearer
from netd.cni import write_atomically

CREDENTIAL_FILE = AGENT_CREDENTIAL_FILE


def write_credential(state_dir: Path, credential: AgentCredential) -> Path:
    """Write the credential file (0600) atomically; returns its path."""
    path = state_dir / CREDENTIAL_FILE
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_atomically(path, credential.file_text(), mode=0o600)
    return path


def read_credential(state_dir: Path) -> AgentCredential:
    """The credential in `state_dir`; ConfigError (what, where, fix) if missing, exposed or malformed."""
    path = state_dir / CREDENTIAL_FILE
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: no agent credential — the master issues one when it provisions this node "
            "(reprovision the node from the web page)"
        ) from None
    except OSError as error:
        raise ConfigError(f"{path}: cannot read the agent credential ({error.strerror})") from None
    with os.fdopen(fd, "rb") as handle:
        mode = os.fstat(handle.fileno()).st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ConfigError(f"{path}: readable by others (mode {mode & 0o777:o}) — chmod 600 {path}")
        data = handle.read(4096)
    try:
        obj = json.loads(data.decode("utf-8"))
        node, secret = obj["node"], obj["credential"]
    except (ValueError, UnicodeDecodeError, KeyError, TypeError):
        raise ConfigError(f"{path}: not an agent credential file — reprovision the node") from None
    parsed = parse_bearer(f"Bearer {node}.{secret}") if isinstance(node, str) and isinstance(secret, str) else None
    if parsed is None:
        raise ConfigError(f"{path}: not an agent credential file — reprovision the node")
    return parsed
