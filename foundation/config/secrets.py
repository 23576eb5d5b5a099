"""Values that guard access: crypt hashes, SSH public keys, the Wi-Fi passphrase file.

cluster.yaml is meant to be shareable (it goes into images and bug reports),
so it holds no secret: passwords only as crypt(3) hashes, the Wi-Fi passphrase
only by file. Messages here never echo the value they refuse.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import stat
import struct
from collections.abc import Callable
from pathlib import Path

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from foundation.config.problems import Invalid, Problem
from foundation.config.values import each, is_null, text
from foundation.config.yaml_tree import short

_B64 = "[./0-9A-Za-z]"
CRYPT_FORMATS: dict[str, re.Pattern[str]] = {
    "yescrypt": re.compile(rf"\$y\${_B64}+\${_B64}{{1,86}}\${_B64}{{43}}"),
    "gost-yescrypt": re.compile(rf"\$gy\${_B64}+\${_B64}{{1,86}}\${_B64}{{43}}"),
    "sha512crypt": re.compile(rf"\$6\$(rounds=[0-9]{{1,9}}\$)?{_B64}{{1,16}}\${_B64}{{86}}"),
    "sha256crypt": re.compile(rf"\$5\$(rounds=[0-9]{{1,9}}\$)?{_B64}{{1,16}}\${_B64}{{43}}"),
    "bcrypt": re.compile(rf"\$2[aby]\$(0[4-9]|[12][0-9]|3[01])\${_B64}{{53}}"),
}
"""crypt(3) formats accepted (what Raspberry Pi OS's libxcrypt verifies), by name."""
_HASH_FIX = "make one with `openssl passwd -6` or `mkpasswd -m yescrypt` and paste its output"

SSH_KEY_TYPES = (
    "ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com",
)
"""Public key types OpenSSH (9.x) accepts for login. DSA is gone since OpenSSH 9.8."""
_KEY_FIX = "paste one line of your ~/.ssh/id_ed25519.pub (make it with `ssh-keygen -t ed25519`)"

_SECRET_KEY = re.compile(r"(?:^|_)(?:pass|passwd|password|passphrase|psk|secret|token|private_key)$", re.I)


def crypt_hash(node: Node) -> str:
    """A crypt(3) password hash ($y$, $gy$, $6$, $5$ or $2b$); refuses plain passwords."""
    value = text(node, "a crypt(3) hash")
    if any(pattern.fullmatch(value) for pattern in CRYPT_FORMATS.values()):
        return value
    if value.startswith(("$1$", "$md5")) or re.fullmatch(rf"{_B64}{{13}}", value):
        raise Invalid("an MD5 or DES crypt hash is too weak", _HASH_FIX)
    if value.startswith("$"):
        raise Invalid("not a complete crypt(3) hash (a $y$, $6$, $5$ or $2b$ hash of the right length)", _HASH_FIX)
    raise Invalid("this looks like a plain password; only crypt(3) hashes are accepted", _HASH_FIX)


def ssh_public_key(node: Node) -> str:
    """One OpenSSH public key line: [options] TYPE BASE64 [comment], with a blob that matches TYPE."""
    value = text(node, "an SSH public key").strip()
    if "PRIVATE KEY" in value:
        raise Invalid("this is a PRIVATE key; it must never leave your machine",
                      "delete it here (and consider it exposed); " + _KEY_FIX)
    words = value.split()
    positions = [index for index, word in enumerate(words) if word in SSH_KEY_TYPES]
    if "ssh-dss" in words:
        raise Invalid("DSA keys are no longer accepted by OpenSSH", _KEY_FIX)
    if not positions or positions[0] + 1 >= len(words):
        raise Invalid("not an OpenSSH public key (expected `ssh-ed25519 AAAA... comment`)", _KEY_FIX)
    key_type, blob_text = words[positions[0]], words[positions[0] + 1]
    try:
        blob = base64.b64decode(blob_text, validate=True)
        (length,) = struct.unpack(">I", blob[:4])
        embedded = blob[4 : 4 + length].decode("ascii")
    except (binascii.Error, struct.error, UnicodeDecodeError, ValueError):
        raise Invalid(f"the {key_type} key data is not valid base64 of a key (cut short when copied?)",
                      _KEY_FIX) from None
    if embedded != key_type or len(blob) < 4 + length + 16:
        raise Invalid(f"the key data does not hold a {key_type} key (cut short or edited?)", _KEY_FIX)
    return value


def ssh_keys(node: Node) -> tuple[str, ...]:
    """A list of OpenSSH public keys (may be empty: then only the password logs in)."""
    return each(node, "SSH public keys", ssh_public_key)


def psk_file(base_dir: Path) -> Callable[[Node], str]:
    """A parser of the passphrase file path: `~` expanded, relative to the config file's folder.

    Returns the absolute path. The file must exist, be a regular file, not be
    world-readable, and hold a WPA passphrase (8-63 characters, or 64 hex digits).
    """

    def parse_psk_file(node: Node) -> str:
        raw = text(node, "a file path")
        if "\0" in raw or not raw.strip():
            raise Invalid("not a usable file path", "write the path of the passphrase file, e.g. ~/.config/appliance/wifi.psk")
        path = base_dir / Path(os.path.expanduser(raw))
        written, shown = short(raw), short(str(path), 80)
        try:
            info = path.stat()
        except FileNotFoundError:
            raise Invalid(f"{written}: no such file",
                          f"write the passphrase into {shown} and `chmod 600` it") from None
        except OSError as error:
            raise Invalid(f"{written}: cannot be read ({error.strerror})", "fix the path or its permissions") from None
        if not stat.S_ISREG(info.st_mode):
            raise Invalid(f"{written} is not a regular file", "point psk_file at the file holding the passphrase")
        if info.st_mode & stat.S_IROTH:
            raise Invalid(f"{written} is readable by every user", f"run `chmod 600 {shown}`")
        try:
            with path.open("rb") as file:
                content = file.read(200)
        except OSError as error:
            raise Invalid(f"{written}: cannot be read ({error.strerror})", "fix its permissions") from None
        passphrase = content.rstrip(b"\r\n")
        if not (8 <= len(passphrase) <= 63 and all(32 <= byte < 127 for byte in passphrase)) and not re.fullmatch(
            rb"[0-9a-fA-F]{64}", passphrase
        ):
            raise Invalid(f"{written} does not hold a WPA passphrase (8-63 printable characters or 64 hex digits)",
                          "put only the passphrase in the file, on one line")
        return str(path.resolve())

    return parse_psk_file


def plain_secrets(root: MappingNode, source: str) -> list[Problem]:
    """Problems for keys anywhere in the file that look like they hold a plain secret."""
    problems: list[Problem] = []
    stack: list[tuple[Node, str]] = [(root, "")]
    while stack:
        node, path = stack.pop()
        if isinstance(node, SequenceNode):
            stack.extend((item, f"{path}[{index}]") for index, item in enumerate(node.value))
        elif isinstance(node, MappingNode):
            for key, value in node.value:
                key_path = f"{path}.{key.value}" if path else str(key.value)
                if isinstance(key, ScalarNode) and _SECRET_KEY.search(str(key.value)) and not is_null(value):
                    problems.append(Problem(
                        source, key.start_mark.line + 1, key_path,
                        "a plain secret does not belong in cluster.yaml (it ends up in images and logs)",
                        "passwords go in as crypt hashes (password_hash), the Wi-Fi passphrase by wifi.psk_file",
                    ))
                else:
                    stack.append((value, key_path))
    return problems


def is_secret_key(key: str) -> bool:
    """True for key names refused by plain_secrets (the schema then skips them)."""
    return bool(_SECRET_KEY.search(key))
