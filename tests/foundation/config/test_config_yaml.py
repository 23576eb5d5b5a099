"""Malformed YAML gets one error line with the right line number, never a traceback."""

from __future__ import annotations

import pytest

from foundation.config import ConfigInvalid, parse_bytes, parse_config
from tests.foundation.config.config_helpers import doc, problems_of

BILLION_LAUGHS = doc("""
    a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]
    b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
    c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
    d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
    e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
    f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
    g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
    """)

MALFORMED = [
    ("tab-indent", "cluster:\n\tname: picluster\n", 2, "(yaml)", "tab in the indentation"),
    ("tab-after-spaces", "cluster:\n  name: a\nnetwork:\n  \tsubnet: 10.0.0.0/24\n", 4, "(yaml)", "tab"),
    ("duplicate-section", "cluster:\n  name: a\nnetwork: {}\ncluster:\n  name: b\n", 4, "cluster",
     "duplicate key, first given at line 1"),
    ("duplicate-nested", "network:\n  subnet: 10.0.0.0/24\n  lease_time: 600\n  subnet: 10.1.0.0/24\n", 4,
     "network.subnet", "first given at line 2"),
    ("duplicate-in-list-entry", "nodes:\n  - name: a\n    name: b\n", 3, "nodes[0].name", "duplicate key"),
    ("top-level-list", "- cluster\n- network\n", 1, "(top level)", "found a list"),
    ("top-level-scalar", "just some words\n", 1, "(top level)", "found `just some words`"),
    ("top-level-null", "~\n", 1, "(top level)", "found nothing"),
    ("empty", "", 1, "(yaml)", "the file is empty"),
    ("only-comments", "# nothing here\n\n# at all\n", 1, "(yaml)", "the file is empty"),
    ("unclosed-flow", "network:\n  dhcp_range: [10.0.0.2, 10.0.0.9\nkubernetes: {}\n", 3, "(yaml)", "not valid YAML"),
    ("bad-indent", "cluster:\n  name: a\n   domain: b\n", 3, "(yaml)", "not valid YAML"),
    ("colon-in-value", "cluster:\n  name: a: b\n", 2, "(yaml)", "quote values"),
    ("two-documents", "cluster: {}\n---\nnetwork: {}\n", 2, "(yaml)", "not valid YAML"),
    ("undefined-alias", "cluster:\n  name: *nothing\n", 2, "(yaml)", "undefined alias"),
    ("nul-character", "cluster:\n  name: pi\x00cluster\n", 2, "(yaml)", "U+0000"),
    ("line-separator", "cluster:\n  name: a\u2028b\n", 2, "(yaml)", "U+2028"),
    ("mapping-key", "? [a, b]\n: c\n", 1, "(top level)", "a key must be a plain name"),
    ("alias-bomb", BILLION_LAUGHS, None, "(yaml)", "too many values"),
    ("recursive-alias", "a: &x [*x]\n", 1, "(yaml)", "nested too deeply"),
    ("deep-nesting", "a:\n  - " + "[" * 50 + "]" * 50 + "\n", 2, "(yaml)", "nested too deeply"),
]


@pytest.mark.parametrize("case", MALFORMED, ids=[case[0] for case in MALFORMED])
def test_malformed_yaml_is_one_line(case: tuple[str, str, int | None, str, str]) -> None:
    _, text, line, path, says = case
    problems = problems_of(text)
    assert len(problems) == 1, [str(p) for p in problems]
    assert problems[0].path == path
    if line is None:  # somewhere inside the expansion; any line of the file
        assert problems[0].line in range(1, text.count("\n") + 1)
    else:
        assert problems[0].line == line
    assert says in str(problems[0]) and "\n" not in str(problems[0])


def test_alias_bomb_paths_and_recursion_are_bounded() -> None:
    # Whatever the key path reported, the walk must end quickly with one problem.
    for text in (BILLION_LAUGHS, "a: &x [*x]\n", "a: &x {b: *x}\n"):
        with pytest.raises(ConfigInvalid) as caught:
            parse_config(text, "cluster.yaml")
        assert len(caught.value.problems) == 1


def test_very_deep_nesting_does_not_blow_the_stack() -> None:
    problems = problems_of("a: " + "[" * 5000 + "]" * 5000 + "\n")
    assert len(problems) == 1 and problems[0].line == 1


def test_harmless_aliases_are_fine() -> None:
    text = doc("""
        network:
          upstream_dns: &resolvers [192.0.2.53, 198.51.100.53]
        kubernetes:
          api_server_sans: [kubernetes.cluster.home]
        """)
    assert problems_of(text) == []


def test_undecodable_bytes_name_their_line() -> None:
    with pytest.raises(ConfigInvalid) as caught:
        parse_bytes(b"cluster:\n  name: pi\n  domain: caf\xe9.home\n", "cluster.yaml")
    (problem,) = caught.value.problems
    assert (problem.line, problem.path) == (3, "(yaml)")
    assert "byte 0xe9 is not UTF-8" in str(problem)


def test_binary_junk() -> None:
    with pytest.raises(ConfigInvalid) as caught:
        parse_bytes(bytes(range(256)) * 4, "junk.bin")
    assert len(caught.value.problems) == 1
    assert str(caught.value).startswith("junk.bin:")


def test_oversized_file() -> None:
    with pytest.raises(ConfigInvalid, match="larger than 1024 KiB"):
        parse_bytes(b"# padding\n" * 200_000, "big.yaml")


def test_bom_and_crlf_keep_line_numbers() -> None:
    data = "\ufeffcluster:\r\n  name: picluster\r\nnetwork:\r\n  subnet: 10.0.0.0/33\r\n".encode()
    with pytest.raises(ConfigInvalid) as caught:
        parse_bytes(data, "cluster.yaml")
    assert [(p.line, p.path) for p in caught.value.problems] == [(4, "network.subnet")]


def test_yaml_gotchas_read_as_written() -> None:
    # Plain YAML 1.1 would read NO as false, 1.30 as 1.3 and this MAC as a base-60 number.
    config = parse_config(doc("""
        kubernetes:
          version: 1.30
        wifi:
          country: NO
        nodes:
          - name: node-1
            mac: 12:34:56:78:9a:bc
        """))
    assert config.kubernetes.version == "1.30"
    assert config.wifi.country == "NO"
    assert config.nodes[0].mac == "12:34:56:78:9a:bc"


def test_quoted_null_is_a_string() -> None:
    problems = problems_of('cluster:\n  name: "~"\n')
    assert [(p.line, p.path) for p in problems] == [(2, "cluster.name")]
    assert "not a DNS label" in problems[0].what


def test_control_characters_in_keys_stay_on_one_line() -> None:
    problems = problems_of('"evil\\nkey\\u2028": 1\n')
    assert len(problems) == 1
    assert "\n" not in str(problems[0]) and "\u2028" not in str(problems[0])


@pytest.mark.parametrize("text", ["cluster:\n  name: !!python/object/apply:os.system [ls]\n",
                                  "cluster:\n  name: !custom picluster\n"])
def test_foreign_yaml_tags_refused(text: str) -> None:
    problems = problems_of(text)
    assert [(p.line, p.path) for p in problems] == [(2, "cluster.name")]
    assert "YAML tag" in problems[0].what


def test_explicit_standard_tags_are_read() -> None:
    config = parse_config("cluster:\n  name: !!str picluster\nnetwork:\n  lease_time: !!int 900\n")
    assert (config.cluster.name, config.network.lease_time) == ("picluster", 900)
