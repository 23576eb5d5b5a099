"""The adapter's pure parts: kubeadm's token and CA-pin test vectors, token Secrets, kubeconfigs, node lists."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from appliance.kube import (
    KubeUnavailable,
    ca_cert_hash,
    is_valid_token,
    is_valid_token_id,
    laptop_kubeconfig,
)
from appliance.kube.kubeconfig import parse_kubeconfig
from appliance.kube.nodes import nodes_from_list
from appliance.kube.tokens import generate_token, secret_body, token_from_secret

# cluster-bootstrap's helpers_test.go (TestIsValidBootstrapToken, TestIsValidBootstrapTokenID).
TOKEN_VECTORS = [
    ("", False), (".", False), ("1234567890123456789012", False), ("12345.1234567890123456", False),
    (".1234567890123456", False), ("123456.", False), ("123456:1234567890.123456", False),
    ("abcdef:1234567890123456", False), ("Abcdef.1234567890123456", False), ("123456.AABBCCDDEEFFGGHH", False),
    ("123456.AABBCCD-EEFFGGHH", False), ("abc*ef.1234567890123456", False), ("abcdef.1234567890123456", True),
    ("123456.aabbccddeeffgghh", True), ("ABCDEF.abcdef0123456789", False), ("abcdef.abcdef0123456789", True),
    ("123456.1234560123456789", True),
]
TOKEN_ID_VECTORS = [("", False), ("1234567890123456789012", False), ("12345", False), ("Abcdef", False),
                    ("ABCDEF", False), ("abcdef.", False), ("abcdef", True), ("123456", True)]

# kubeadm's pubkeypin_test.go / testdata/test-cert.pem (reference/kubeadm.md §2).
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


@pytest.mark.parametrize("token, valid", TOKEN_VECTORS)
def test_token_format_matches_kubeadms_vectors(token: str, valid: bool) -> None:
    assert is_valid_token(token) is valid


@pytest.mark.parametrize("token_id, valid", TOKEN_ID_VECTORS)
def test_token_id_format_matches_kubeadms_vectors(token_id: str, valid: bool) -> None:
    assert is_valid_token_id(token_id) is valid


def test_ca_hash_matches_kubeadms_vector() -> None:
    assert ca_cert_hash(TEST_CERT) == "sha256:345959acb2c3b2feb87d281961c893f62a314207ef02599f1cc4a5fb255480b3"
    with pytest.raises(KubeUnavailable, match="the cluster CA certificate cannot be read"):
        ca_cert_hash(b"-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n")


def test_generated_tokens_are_valid_and_differ() -> None:
    made = {generate_token() for _ in range(200)}
    assert len(made) == 200 and all(is_valid_token(token) for token in made)


def test_a_token_secret_round_trips_without_its_secret() -> None:
    body = secret_body("abcdef.0123456789abcdef", description="laptop", expires=1_700_000_000.0)
    assert body["metadata"] == {"name": "bootstrap-token-abcdef", "namespace": "kube-system"}
    raw: dict[str, str] = body["data"]  # type: ignore[assignment]
    data = {k: base64.b64decode(v).decode() for k, v in raw.items()}
    assert data == {"token-id": "abcdef", "token-secret": "0123456789abcdef", "description": "laptop",
                    "auth-extra-groups": "system:bootstrappers:kubeadm:default-node-token",
                    "expiration": "2023-11-14T22:13:20Z", "usage-bootstrap-signing": "true",
                    "usage-bootstrap-authentication": "true"}
    token = token_from_secret(body)
    assert token is not None and (token.id, token.expires, token.usages, token.token) == (
        "abcdef", 1_700_000_000.0, ("authentication", "signing"), None)
    with pytest.raises(ValueError, match="must look like"):
        secret_body("abcdef.short", description="", expires=None)
    with pytest.raises(ValueError, match="bootstrap group"):
        secret_body("abcdef.0123456789abcdef", description="", expires=None, groups=("system:masters",))


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
                        st.sampled_from(["type", "data", "token-id", "expiration", "description",
                                         "usage-bootstrap-signing", "x"]), inner, max_size=5), max_leaves=20))
def test_fuzzed_secrets_and_node_lists_never_crash(document: object) -> None:
    token_from_secret(document)
    token_from_secret({"type": "bootstrap.kubernetes.io/token", "data": document})
    nodes_from_list({"items": [document]})
    nodes_from_list(document)


def _admin_conf(server: str = "https://10.0.0.1:6443") -> str:
    b64 = base64.b64encode
    return yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "kubernetes-admin@kubernetes",
        "clusters": [{"name": "kubernetes", "cluster": {"server": server,
                                                         "certificate-authority-data": b64(TEST_CERT).decode()}}],
        "contexts": [{"name": "kubernetes-admin@kubernetes",
                      "context": {"cluster": "kubernetes", "user": "kubernetes-admin"}}],
        "users": [{"name": "kubernetes-admin", "user": {"client-certificate-data": b64(b"CERT").decode(),
                                                        "client-key-data": b64(b"KEY").decode()}}],
    })


def test_kubeconfig_is_read_and_rewritten_for_a_laptop() -> None:
    config = parse_kubeconfig(_admin_conf(), "admin.conf")
    assert (config.host, config.port, config.ca_pem, config.client_key_pem) == ("10.0.0.1", 6443, TEST_CERT, b"KEY")
    laptop = yaml.safe_load(laptop_kubeconfig(_admin_conf(), "https://192.0.2.192:6443", "picluster"))
    assert laptop["clusters"][0] == {"name": "picluster", "cluster": {
        "server": "https://192.0.2.192:6443", "certificate-authority-data": base64.b64encode(TEST_CERT).decode()}}
    assert laptop["current-context"] == "picluster-admin@picluster"
    assert laptop["contexts"][0]["context"] == {"cluster": "picluster", "user": "picluster-admin"}


@pytest.mark.parametrize("text, says", [
    ("{", "is not YAML"), ("[]", "is not a kubeconfig"), ("clusters: []", "no contexts"),
    (_admin_conf("http://10.0.0.1:6443"), "is not an https:// URL"),
    (_admin_conf("https://10.0.0.1:99999"), "has a bad port"),
    (_admin_conf().replace("client-key-data", "client-key"), "lacks client-key-data"),
])  # fmt: skip
def test_bad_kubeconfigs_are_one_line(text: str, says: str) -> None:
    with pytest.raises(KubeUnavailable, match=says) as caught:
        parse_kubeconfig(text, "/var/lib/appliance/kubernetes/admin.conf")
    assert str(caught.value).startswith("/var/lib/appliance/kubernetes/admin.conf") and "\n" not in str(caught.value)


def test_node_list_fields() -> None:
    document = {"items": [
        {"metadata": {"name": "node-1"}, "spec": {"podCIDR": "10.244.1.0/24", "unschedulable": True},
         "status": {"conditions": [{"type": "MemoryPressure", "status": "False"},
                                   {"type": "Ready", "status": "True", "reason": "KubeletReady"}],
                    "addresses": [{"type": "Hostname", "address": "node-1"},
                                  {"type": "InternalIP", "address": "10.0.0.11"}],
                    "nodeInfo": {"kubeletVersion": "v1.34.2"}}},
        {"metadata": {}}, "junk"]}
    (node,) = nodes_from_list(json.loads(json.dumps(document)))
    assert (node.name, node.ready, node.reason, node.kubelet_version, node.pod_cidr, node.internal_ip,
            node.unschedulable) == ("node-1", True, "KubeletReady", "v1.34.2", "10.244.1.0/24", "10.0.0.11", True)


def test_missing_admin_conf_says_how_to_make_it(tmp_path: Path) -> None:
    from appliance.kube import KubeClient

    with pytest.raises(KubeUnavailable, match="the master is not initialised yet; run: appliance provision MASTER"):
        KubeClient.from_state_dir(tmp_path)
