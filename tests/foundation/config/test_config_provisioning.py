"""The keys provisioning added: kubernetes.apt_repository and provisioning.host_keys."""

from __future__ import annotations

import pytest

from foundation.config import parse_config
from tests.foundation.config.config_helpers import doc, problems_of


def test_defaults_and_given_values() -> None:
    config = parse_config("cluster:\n  name: picluster\n", "cluster.yaml")
    assert config.kubernetes.apt_repository == "https://pkgs.k8s.io/core:/stable:/v{version}/deb/"
    assert config.provisioning.host_keys == "auto"
    given = parse_config(doc("""
        kubernetes:
          apt_repository: "http://pkgs.k8s.example.net/core:/stable:/v{version}/deb/"
        provisioning:
          host_keys: cards
        """), "cluster.yaml")
    assert given.kubernetes.apt_repository == "http://pkgs.k8s.example.net/core:/stable:/v{version}/deb/"
    assert given.provisioning.host_keys == "cards"


@pytest.mark.parametrize("value, says", [
    ("ftp://example.net/deb/", "is not an http(s) URL"),
    ("https://example.net/deb", "does not end with /"),
    ("https://example.net/$(reboot)/", "is not an http(s) URL"),
    ("'https://example.net/a b/'", "is not an http(s) URL"),
    ("https://example.net/{other}/", "is not an http(s) URL"),
    ("https://example.net/deb/;rm", "is not an http(s) URL"),
    ("https://", "is not an http(s) URL"),
])  # fmt: skip
def test_bad_repository_urls_name_the_line(value: str, says: str) -> None:
    problems = problems_of(doc(f"""
        kubernetes:
          apt_repository: {value}
        """))
    assert [(p.line, p.path) for p in problems] == [(2, "kubernetes.apt_repository")]
    assert says in str(problems[0]) and "\n" not in str(problems[0])


def test_bad_host_key_policy() -> None:
    problems = problems_of(doc("""
        provisioning:
          host_keys: always
        """))
    assert [(p.line, p.path) for p in problems] == [(2, "provisioning.host_keys")]
    assert "use one of auto, cards, trust-on-first-use" in str(problems[0])
