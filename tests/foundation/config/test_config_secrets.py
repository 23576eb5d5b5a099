"""Crypt hashes, SSH public keys and the Wi-Fi passphrase file, with real tools' output."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import bcrypt
import pytest

from foundation.config import load_config, parse_config
from tests.foundation.config.config_helpers import doc, problems_of


def wifi_yaml(psk_file: str, ssid: str | None = "HomeNetwork") -> str:
    return doc(f"""
        wifi:
          {"ssid: " + ssid if ssid else "country: US"}
          psk_file: {psk_file}
        """)


def write_psk(path: Path, content: bytes = b"correct horse battery\n", mode: int = 0o600) -> Path:
    path.write_bytes(content)
    path.chmod(mode)
    return path


def test_psk_file_accepted_and_made_absolute(tmp_path: Path) -> None:
    write_psk(tmp_path / "wifi.psk")
    config = parse_config(wifi_yaml("wifi.psk"), "cluster.yaml", base_dir=tmp_path)
    assert config.wifi.psk_file == str(tmp_path / "wifi.psk")
    assert config.wifi.ssid == "HomeNetwork"


def test_psk_file_relative_to_the_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "conf").mkdir()
    write_psk(tmp_path / "conf" / "wifi.psk")
    (tmp_path / "conf" / "cluster.yaml").write_text(wifi_yaml("wifi.psk"))
    monkeypatch.chdir("/")
    assert load_config(tmp_path / "conf" / "cluster.yaml").wifi.psk_file == str(tmp_path / "conf" / "wifi.psk")


def test_psk_file_tilde_is_expanded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    write_psk(tmp_path / "wifi.psk", b"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")
    assert parse_config(wifi_yaml("~/wifi.psk")).wifi.psk_file == str(tmp_path / "wifi.psk")


@pytest.mark.parametrize(("setup", "says"), [
    (lambda p: None, "no such file"),
    (lambda p: write_psk(p, mode=0o644), "readable by every user"),
    (lambda p: write_psk(p, mode=0o604), "readable by every user"),
    (lambda p: p.mkdir(), "not a regular file"),
    (lambda p: write_psk(p, b"short\n"), "does not hold a WPA passphrase"),
    (lambda p: write_psk(p, b"x" * 64 + b"\n"), "does not hold a WPA passphrase"),
    (lambda p: write_psk(p, b"two\nlines here\n"), "does not hold a WPA passphrase"),
], ids=["missing", "world-readable", "other-read-only", "directory", "too-short", "64-not-hex", "two-lines"])
def test_bad_psk_file(tmp_path: Path, setup, says: str) -> None:  # type: ignore[no-untyped-def]
    setup(tmp_path / "wifi.psk")
    problems = problems_of(wifi_yaml("wifi.psk"), tmp_path)
    assert [(p.line, p.path) for p in problems] == [(3, "wifi.psk_file")]
    assert says in str(problems[0])
    assert "correct horse" not in str(problems[0])


@pytest.mark.parametrize("written", ['"a\\0b"', '" "', '"' + "x" * 5000 + '"'], ids=["nul", "blank", "too-long"])
def test_unusable_psk_paths(written: str) -> None:
    problems = problems_of(wifi_yaml(written))
    assert [(p.line, p.path) for p in problems] == [(3, "wifi.psk_file")]


def test_psk_file_without_ssid(tmp_path: Path) -> None:
    write_psk(tmp_path / "wifi.psk")
    problems = problems_of(wifi_yaml("wifi.psk", ssid=None), tmp_path)
    assert [(p.line, p.path) for p in problems] == [(3, "wifi.ssid")]
    assert "no network name" in problems[0].what


def test_ssid_too_long() -> None:
    problems = problems_of("wifi:\n  ssid: " + "n" * 33 + "\n")
    assert [(p.line, p.path) for p in problems] == [(2, "wifi.ssid")]


def openssl_hash(flag: str) -> str:
    return subprocess.run(["openssl", "passwd", flag, "-salt", "saltsalt", "a password"],
                          check=True, capture_output=True, text=True).stdout.strip()


@pytest.mark.parametrize("make", [
    lambda: openssl_hash("-6"),
    lambda: openssl_hash("-5"),
    lambda: bcrypt.hashpw(b"a password", bcrypt.gensalt(rounds=4)).decode(),
    # yescrypt as written by `mkpasswd -m yescrypt` (Debian's example from crypt(5))
    lambda: "$y$j9T$F5Jx5fExrKuPp53xLKQ..1$X3DX6M94c7o.9agCG9G317fhZg9SqC.5i5rd.RhAtQ7",
    lambda: "$6$rounds=656000$saltsalt$" + "a" * 86,
], ids=["sha512crypt", "sha256crypt", "bcrypt", "yescrypt", "sha512-rounds"])
def test_real_crypt_hashes_accepted(make) -> None:  # type: ignore[no-untyped-def]
    hashed = make()
    config = parse_config(f'access:\n  password_hash: "{hashed}"\nweb:\n  admin_password_hash: "{hashed}"\n')
    assert config.access.password_hash == hashed == config.web.admin_password_hash


@pytest.mark.parametrize("hashed", [
    "$6$saltsalt$" + "a" * 85,          # one character short
    "$2b$03$" + "a" * 53,               # bcrypt cost below 4
    "$1$saltsalt$abcdefghijklmnopqrstuv",
    "abJnggxhB/yWI",                    # DES
    "$6$salt with spaces$" + "a" * 86,
])
def test_malformed_crypt_hashes_refused(hashed: str) -> None:
    problems = problems_of(f'access:\n  password_hash: "{hashed}"\n')
    assert [(p.line, p.path) for p in problems] == [(2, "access.password_hash")]


@pytest.fixture(scope="module")
def public_keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("keys")
    keys = {}
    for kind, extra in (("ed25519", []), ("rsa", ["-b", "2048"]), ("ecdsa", ["-b", "384"])):
        path = folder / f"id_{kind}"
        subprocess.run(["ssh-keygen", "-q", "-t", kind, *extra, "-N", "", "-C", "you@laptop", "-f", str(path)],
                       check=True)
        keys[kind] = (folder / f"id_{kind}.pub").read_text().strip()
        keys[kind + "-private"] = path.read_text()
    return keys


def test_real_public_keys_accepted(public_keys: dict[str, str]) -> None:
    lines = [public_keys["ed25519"], public_keys["rsa"], public_keys["ecdsa"],
             'from="10.0.0.0/24",no-agent-forwarding ' + public_keys["ed25519"]]
    config = parse_config("access:\n  ssh_authorized_keys:\n" + "".join(f'    - "{k}"\n' for k in
                                                                        (line.replace('"', '\\"') for line in lines)))
    assert len(config.access.ssh_authorized_keys) == 4
    assert config.access.ssh_authorized_keys[0] == public_keys["ed25519"]


@pytest.mark.parametrize(("mangle", "says"), [
    (lambda key: key[:40], "not valid base64|does not hold"),
    (lambda key: key.replace("ssh-ed25519", "ssh-rsa", 1), "does not hold a ssh-rsa key"),
    (lambda key: key.replace("AAAA", "!!!!", 1), "not valid base64"),
    (lambda key: key.replace("ssh-ed25519", "ssh-dss", 1), "DSA keys"),
], ids=["truncated", "wrong-type", "not-base64", "dsa"])
def test_broken_public_keys_refused(public_keys: dict[str, str], mangle, says: str) -> None:  # type: ignore[no-untyped-def]
    problems = problems_of(f'access:\n  ssh_authorized_keys:\n    - "{mangle(public_keys["ed25519"])}"\n')
    assert [(p.line, p.path) for p in problems] == [(3, "access.ssh_authorized_keys[0]")]
    assert re.search(says, str(problems[0]))


def test_pasted_private_key_refused_without_echo(public_keys: dict[str, str]) -> None:
    private = public_keys["ed25519-private"]
    body = "".join(f"      {line}\n" for line in private.splitlines())
    problems = problems_of("access:\n  ssh_authorized_keys:\n    - |\n" + body)
    assert [(p.line, p.path) for p in problems] == [(3, "access.ssh_authorized_keys[0]")]
    assert "PRIVATE key" in problems[0].what
    assert private.splitlines()[1] not in str(problems[0])


def test_world_readable_check_uses_real_permissions(tmp_path: Path) -> None:
    path = write_psk(tmp_path / "wifi.psk", mode=0o640)
    assert parse_config(wifi_yaml(str(path))).wifi.psk_file == str(path)
    os.chmod(path, 0o644)
    assert [p.path for p in problems_of(wifi_yaml(str(path)))] == ["wifi.psk_file"]
