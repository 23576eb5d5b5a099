"""Bootstrap tokens, CA pins and JWS: kubeadm's own test vectors and texts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from hypothesis import given
from hypothesis import strategies as st

from hardware.lab.kubefake import jws, pubkeypin, tokens
from hardware.lab.kubefake.textfmt import human_duration, short_human_duration

# kubeadm's util/pubkeypin/testdata/test-cert.pem and its expected pin (reference/kubeadm.md §2).
TEST_CERT = b"""-----BEGIN CERTIFICATE-----
MIIDRDCCAiygAwIBAgIJAJgVaCXvC6HkMA0GCSqGSIb3DQEBBQUAMB8xHTAbBgNV
BAMTFGt1YmVhZG0ta2V5cGlucy10ZXN0MCAXDTE3MDcwNTE3NDMxMFoYDzIxMTcw
NjExMTc0MzEwWjAfMR0wGwYDVQQDExRrdWJlYWRtLWtleXBpbnMtdGVzdDCCASIw
DQYJKoZIhvcNAQEBBQADggEPADCCAQoCggEBAK0ba8mHU9UtYlzM1Own2Fk/XGjR
J4uJQvSeGLtz1hID1IA0dLwruvgLCPadXEOw/f/IWIWcmT+ZmvIHZKa/woq2iHi5
+HLhXs7aG4tjKGLYhag1hLjBI7icqV7ovkjdGAt9pWkxEzhIYClFMXDjKpMSynu+
YX6nZ9tic1cOkHmx2yiZdMkuriRQnpTOa7bb03OC1VfGl7gHlOAIYaj4539WCOr8
+ACTUMJUFEHcRZ2o8a/v6F9GMK+7SC8SJUI+GuroXqlMAdhEv4lX5Co52enYaClN
+D9FJLRpBv2YfiCQdJRaiTvCBSxEFz6BN+PtP5l2Hs703ZWEkOqCByM6HV8CAwEA
AaOBgDB+MB0GA1UdDgQWBBRQgUX8MhK2rWBWQiPHWcKzoWDH5DBPBgNVHSMESDBG
gBRQgUX8MhK2rWBWQiPHWcKzoWDH5KEjpCEwHzEdMBsGA1UEAxMUa3ViZWFkbS1r
ZXlwaW5zLXRlc3SCCQCYFWgl7wuh5DAMBgNVHRMEBTADAQH/MA0GCSqGSIb3DQEB
BQUAA4IBAQCaAUif7Pfx3X0F08cxhx8/Hdx4jcJw6MCq6iq6rsXM32ge43t8OHKC
pJW08dk58a3O1YQSMMvD6GJDAiAfXzfwcwY6j258b1ZlI9Ag0VokvhMl/XfdCsdh
AWImnL1t4hvU5jLaImUUMlYxMcSfHBGAm7WJIZ2LdEfg6YWfZh+WGbg1W7uxLxk6
y4h5rWdNnzBHWAGf7zJ0oEDV6W6RSwNXtC0JNnLaeIUm/6xdSddJlQPwUv8YH4jX
c1vuFqTnJBPcb7W//R/GI2Paicm1cmns9NLnPR35exHxFTy+D1yxmGokpoPMdife
aH+sfuxT8xeTPb3kjzF9eJTlnEquUDLM
-----END CERTIFICATE-----
"""
TEST_PIN = "sha256:345959acb2c3b2feb87d281961c893f62a314207ef02599f1cc4a5fb255480b3"
NOW = datetime(2026, 11, 29, 12, 0, 0, tzinfo=UTC)


def test_ca_hash_matches_kubeadm_test_vector() -> None:
    assert pubkeypin.hash_of_pem(TEST_CERT) == TEST_PIN


def test_pin_set_accepts_the_vector_and_refuses_another_key() -> None:
    cert = x509.load_pem_x509_certificate(TEST_CERT)
    pins = pubkeypin.PinSet()
    pins.allow(TEST_PIN.upper().replace("SHA256", "SHA256"))  # format name is case-insensitive
    pins.check([cert])
    other = pubkeypin.PinSet()
    other.allow("sha256:" + "00" * 32)
    with pytest.raises(pubkeypin.PinError) as error:
        other.check([cert])
    assert str(error.value) == f'none of the public keys "{TEST_PIN}" are pinned'


@pytest.mark.parametrize(("pin", "message"), [
    ("deadbeef", 'invalid hash, expected "format:hex-value". Known format(s) are: sha256'),
    ("md5:00", 'unknown hash format "md5". Known format(s) are: sha256'),
    ("sha256:abcd", 'invalid hash "abcd", expected a 32 byte SHA-256 hash, found 2 bytes'),
])
def test_pin_errors_are_kubeadms(pin: str, message: str) -> None:
    with pytest.raises(pubkeypin.PinError, match=None) as error:
        pubkeypin.PinSet().allow(pin)
    assert str(error.value) == message


@given(st.text(max_size=80))
def test_pin_parser_never_crashes(text: str) -> None:
    try:
        pubkeypin.PinSet().allow(text)
    except pubkeypin.PinError:
        pass


def test_token_format_and_error_text() -> None:
    token = tokens.parse_token("abcdef.0123456789abcdef")
    assert (token.id, token.secret) == ("abcdef", "0123456789abcdef")
    with pytest.raises(tokens.TokenError) as error:
        tokens.parse_token("ABCDEF.0123456789abcdef")
    assert str(error.value) == ('the bootstrap token "ABCDEF.0123456789abcdef" was not of the form '
                                '"\\\\A([a-z0-9]{6})\\\\.([a-z0-9]{16})\\\\z"')
    for bad in ["abcdef.0123456789abcdef\n", "abcde.0123456789abcdef", "abcdef0123456789abcdef", ""]:
        with pytest.raises(tokens.TokenError):
            tokens.parse_token(bad)


@given(st.binary(min_size=64, max_size=64))
def test_generated_tokens_parse(random: bytes) -> None:
    token = tokens.generate_token(random) if sum(b < 252 for b in random) >= 22 else tokens.generate_token()
    assert tokens.parse_token(str(token)) == token


def test_secret_round_trip_sorts_usages() -> None:
    token = tokens.BootstrapToken(tokens.parse_token("abcdef.0123456789abcdef"), description="join pi-1",
                                  expires=NOW + timedelta(minutes=15), usages=["signing", "authentication"])
    secret = tokens.to_secret(token)
    assert secret["type"] == "bootstrap.kubernetes.io/token"
    assert secret["metadata"] == {"name": "bootstrap-token-abcdef", "namespace": "kube-system"}
    back = tokens.from_secret(secret)
    assert back.usages == ["authentication", "signing"]
    assert back.expires == NOW + timedelta(minutes=15)
    assert back.groups == ["system:bootstrappers:kubeadm:default-node-token"]


@given(st.dictionaries(st.text(max_size=20), st.text(max_size=40), max_size=8))
def test_from_secret_hostile_data(data: dict[str, str]) -> None:
    try:
        tokens.from_secret({"metadata": {"name": "bootstrap-token-abcdef"}, "data": data})
    except tokens.TokenError:
        pass


def test_token_list_text_is_byte_exact() -> None:
    # kubeadm's token_test.go expectation (reference/kubeadm.md §1).
    token = tokens.BootstrapToken(tokens.parse_token("abcdef.1234567890123456"),
                                  description="valid bootstrap tooken", usages=["signing", "authentication"])
    assert tokens.list_text([token], NOW) == (
        "TOKEN                     TTL         EXPIRES   USAGES                   DESCRIPTION"
        "                                                EXTRA GROUPS\n"
        "abcdef.1234567890123456   <forever>   <never>   signing,authentication   valid bootstrap tooken"
        "                                     system:bootstrappers:kubeadm:default-node-token\n"
    )


def test_token_list_text_with_expiry() -> None:
    token = tokens.BootstrapToken(tokens.parse_token("zlt7nb.lpd06ao1kxf4uwgm"),
                                  expires=NOW + timedelta(hours=23, minutes=59, seconds=59),
                                  usages=["authentication", "signing"])
    lines = tokens.list_text([token], NOW).splitlines()
    assert lines[0].startswith("TOKEN                     TTL         EXPIRES                USAGES   ")
    assert lines[1].startswith("zlt7nb.lpd06ao1kxf4uwgm   23h         2026-11-30T11:59:59Z   authentication,signing   <none>")


def test_token_list_json_is_byte_exact() -> None:
    token = tokens.BootstrapToken(tokens.parse_token("abcdef.1234567890123456"),
                                  description="valid bootstrap tooken", usages=["signing", "authentication"])
    assert tokens.list_json([token]) == """{
    "kind": "BootstrapToken",
    "apiVersion": "output.kubeadm.k8s.io/v1alpha3",
    "token": "abcdef.1234567890123456",
    "description": "valid bootstrap tooken",
    "usages": [
        "signing",
        "authentication"
    ],
    "groups": [
        "system:bootstrappers:kubeadm:default-node-token"
    ]
}
"""


def test_jws_detached_signature_round_trip() -> None:
    signature = jws.detached_signature("payload", "abcdef", "0123456789abcdef")
    header, empty, _ = signature.split(".")
    assert empty == "" and header == "eyJhbGciOiJIUzI1NiIsImtpZCI6ImFiY2RlZiJ9"
    assert jws.detached_token_is_valid(signature, "payload", "abcdef", "0123456789abcdef")
    assert not jws.detached_token_is_valid(signature, "payload!", "abcdef", "0123456789abcdef")
    assert not jws.detached_token_is_valid(signature, "payload", "abcdef", "0123456789abcdeX")
    assert not jws.detached_token_is_valid(signature, "payload", "abcdeX", "0123456789abcdef")


@given(st.text(max_size=200))
def test_jws_hostile_signature(signature: str) -> None:
    assert jws.detached_token_is_valid(signature, "x", "abcdef", "0123456789abcdef") in (True, False)


@pytest.mark.parametrize(("seconds", "short", "long"), [
    (-5, "<invalid>", "<invalid>"), (-1, "0s", "0s"), (59, "59s", "59s"), (119, "1m", "119s"),
    (125, "2m", "2m5s"), (600, "10m", "10m"), (3 * 3600 + 60, "3h", "3h1m"), (9 * 3600, "9h", "9h"),
    (50 * 3600, "2d", "2d2h"), (10 * 86400, "10d", "10d"), (800 * 86400, "2y", "2y70d"),
])
def test_durations_match_apimachinery(seconds: int, short: str, long: str) -> None:
    assert short_human_duration(timedelta(seconds=seconds)) == short
    assert human_duration(timedelta(seconds=seconds)) == long


def test_pem_bundles_split_into_certificates() -> None:
    certs = pubkeypin.load_certificates(TEST_CERT + b"\n" + TEST_CERT)
    assert [pubkeypin.hash_of(c) for c in certs] == [TEST_PIN, TEST_PIN]
    with pytest.raises(ValueError):
        pubkeypin.load_certificates(b"not a certificate")
