"""Host keys: parsing and fingerprints like OpenSSH, the pinning policy, the cards.pub importer."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from foundation import registry
from foundation.registry import HostKeyRow, HostKeySource
from provisioning.host_keys import (
    HostKeyError,
    PublicKey,
    import_card_keys,
    judge,
    parse_cards_file,
    parse_public_key,
)
from tests.provisioning.sshd import keygen


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[str, str]]:
    """Real keys made by ssh-keygen: kind -> (public line, ssh-keygen's fingerprint)."""
    folder = tmp_path_factory.mktemp("keys")
    made = {}
    for kind in ("ed25519", "ecdsa", "rsa"):
        line = keygen(folder / kind, kind)
        out = subprocess.run(["ssh-keygen", "-l", "-E", "sha256", "-f", str(folder / f"{kind}.pub")],
                             capture_output=True, text=True, check=True).stdout
        made[kind] = (line, out.split()[1])
    return made


def test_fingerprints_match_ssh_keygen(keys: dict[str, tuple[str, str]]) -> None:
    for line, fingerprint in keys.values():
        key = parse_public_key(line + " some comment")
        assert key.fingerprint == fingerprint
        assert key.text == " ".join(line.split()[:2])


@pytest.mark.parametrize("text, problem", [
    ("", "TYPE BASE64"),
    ("ssh-ed25519", "TYPE BASE64"),
    ("ssh-dss AAAAB3NzaC1kc3M=", "unknown key type"),
    ("ssh-ed25519 !!!notbase64", "not base64"),
    ("ssh-ed25519 AAA=", "too short"),
    ("ssh-ed25519 AAAAB3NzaC1yc2EAAAADAQAB", "does not hold a ssh-ed25519 key"),
    ("ssh-ed25519 " + "A" * 20000, "characters long"),
])  # fmt: skip
def test_malformed_keys_are_one_clear_error(text: str, problem: str) -> None:
    with pytest.raises(HostKeyError, match=problem):
        parse_public_key(text)


@given(st.text(max_size=300))
def test_fuzzed_key_text_only_raises_the_documented_error(text: str) -> None:
    try:
        key = parse_public_key(text)
    except HostKeyError:
        return
    assert key.fingerprint.startswith("SHA256:")


def test_cards_file_skips_and_counts_bad_lines(keys: dict[str, tuple[str, str]]) -> None:
    ed, rsa = keys["ed25519"][0], keys["rsa"][0]
    text = (f"# written by appliance flash\n{ed} card=pi-1 flashed=2025-01-02T03:04:05Z\n\n"
            f"garbage line\n{rsa} card=pi-2\nssh-ed25519 AAAA card=broken\n")
    parsed, skipped = parse_cards_file(text)
    assert [(c.key.text, c.card, c.flashed) for c in parsed] == [
        (" ".join(ed.split()[:2]), "pi-1", "2025-01-02T03:04:05Z"), (" ".join(rsa.split()[:2]), "pi-2", None)]
    assert skipped == 2


@given(st.text(max_size=500))
def test_fuzzed_cards_file_never_crashes(text: str) -> None:
    parsed, skipped = parse_cards_file(text)
    assert skipped >= 0 and all(c.key.fingerprint.startswith("SHA256:") for c in parsed)


def test_import_is_idempotent_and_a_missing_file_is_nothing(tmp_path: Path,
                                                           keys: dict[str, tuple[str, str]]) -> None:
    conn = registry.open_registry(tmp_path)
    try:
        assert import_card_keys(conn, tmp_path / "absent.pub", now=1.0) == (0, 0)
        cards = tmp_path / "cards.pub"
        cards.write_text(f"{keys['ed25519'][0]} card=pi-1\nbad\n")
        assert import_card_keys(conn, cards, now=1.0) == (1, 1)
        assert import_card_keys(conn, cards, now=2.0) == (0, 1)
        (row,) = registry.list_host_keys(conn)
        assert (row.source, row.card, row.node, row.fingerprint) == (
            HostKeySource.CARD, "pi-1", None, keys["ed25519"][1])
    finally:
        conn.close()


KEY = PublicKey("ssh-ed25519", b"\x00\x00\x00\x0bssh-ed25519" + b"\x01" * 36)
OTHER = PublicKey("ssh-ed25519", b"\x00\x00\x00\x0bssh-ed25519" + b"\x02" * 36)


def _row(key: PublicKey, source: HostKeySource, node: str | None, card: str | None = None) -> HostKeyRow:
    return HostKeyRow(key.text, key.fingerprint, source, card, node, 1.0, 1.0 if node else None)


def _judge(presented: PublicKey = KEY, **kwargs: object) -> tuple[bool, HostKeySource | None, str]:
    args: dict[str, object] = {"pinned": None, "known": None, "policy": "auto", "card_keys_known": 0}
    args.update(kwargs)
    verdict = judge("node-2", "node-2 (10.0.0.3)", presented, **args)  # type: ignore[arg-type]
    return verdict.accept, verdict.pin, verdict.message


def test_the_pinned_key_goes_and_a_changed_one_is_refused_with_the_fix() -> None:
    pinned = _row(KEY, HostKeySource.TOFU, "node-2")
    assert _judge(pinned=pinned, known=pinned)[:2] == (True, None)
    accept, pin, message = _judge(OTHER, pinned=pinned)
    assert (accept, pin) == (False, None)
    assert message == (f"node-2 (10.0.0.3): SSH host key changed (was {KEY.fingerprint}, now "
                       f"{OTHER.fingerprint}); if you re-imaged it, run: appliance nodes accept-key node-2")


def test_a_card_key_is_pinned_with_source_card_under_every_policy() -> None:
    card = _row(KEY, HostKeySource.CARD, None, "pi-2")
    for policy in ("auto", "cards", "trust-on-first-use"):
        assert _judge(known=card, policy=policy, card_keys_known=1)[:2] == (True, HostKeySource.CARD)


def test_unknown_keys_follow_the_policy() -> None:
    assert _judge(policy="trust-on-first-use", card_keys_known=4)[:2] == (True, HostKeySource.TOFU)
    assert _judge(policy="auto", card_keys_known=0)[:2] == (True, HostKeySource.TOFU)
    accept, _, message = _judge(policy="auto", card_keys_known=3)
    assert not accept and "is on no flashed card (provisioning.host_keys: auto)" in message
    accept, _, message = _judge(policy="cards", card_keys_known=0)
    assert not accept and message.endswith("if you trust it, run: appliance nodes accept-key node-2")


def test_a_key_pinned_to_another_node_is_a_cloned_card() -> None:
    accept, _, message = _judge(known=_row(KEY, HostKeySource.CARD, "node-1", "pi-1"),
                                policy="trust-on-first-use")
    assert not accept and "is pinned to node-1" in message and "re-image one" in message
