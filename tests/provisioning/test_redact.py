"""Secrets never reach a job log: registered ones and the kinds nobody registered."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from provisioning.redact import MASK, Redactor, one_line


def test_registered_secrets_and_secret_shapes_are_masked() -> None:
    redact = Redactor()
    redact.add("s3cr3t-credential-value")
    redact.add("abc")  # too short to mask safely: ignored
    text = ("kubeadm join 10.0.0.1:6443 --token abcdef.0123456789abcdef --discovery-token-ca-cert-hash sha256:00\n"
            "credential s3cr3t-credential-value here; abc stays\n"
            '{"node": "node-1", "credential": "Zm9vYmFy"}\n'
            "    client-key-data: LS0tLS1CRUdJTi\n    token: 0123456789abcdef\n"
            "Authorization: Bearer eyJhbGciOi\n"
            "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n")
    out = redact(text)
    for secret in ("0123456789abcdef", "s3cr3t-credential-value", "Zm9vYmFy", "LS0tLS1CRUdJTi", "eyJhbGciOi",
                   "b3BlbnNzaC1rZXktdjEAAAAA"):
        assert secret not in out
    assert f"--token abcdef.{MASK}" in out  # the id is public and stays useful in a log
    assert "abc stays" in out and "sha256:00" in out


@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=16, max_size=16), st.text(max_size=200),
       st.text(max_size=200))
def test_a_token_is_never_left_whole(secret: str, before: str, after: str) -> None:
    out = Redactor()(f"{before} abcdef.{secret} {after}")
    assert f"abcdef.{secret}" not in out


def test_one_line() -> None:
    assert one_line("a\n  b\tc") == "a b c"
    assert one_line("x" * 500, 10) == "x" * 9 + "…"
