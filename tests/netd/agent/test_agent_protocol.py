"""The agent API codecs: round trips, hostile bytes, bearer tokens; credential file; CNI."""

from __future__ import annotations

import json
import os
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from foundation.errors import ConfigError
from netd.agent.credential import CREDENTIAL_FILE, read_credential, write_credential
from netd.agent.protocol import (
    AgentConfig,
    AgentCredential,
    ProtocolError,
    Report,
    config_to_json,
    parse_bearer,
    parse_config,
    parse_report,
    report_to_json,
)
from netd.cni import CONFLIST_NAME, LOOPBACK_NAME, render_conflist, write_cni_config
from netd.routes.plan import PodRoute

CONFIG = AgentConfig(
    node="node-1",
    pod_cidr=IPv4Network("10.244.1.0/24"),
    lan_subnet=IPv4Network("10.0.0.0/24"),
    master_address=IPv4Address("10.0.0.1"),
    routes=(
        PodRoute(IPv4Network("10.244.0.0/24"), IPv4Address("10.0.0.1")),
        PodRoute(IPv4Network("10.244.2.0/24"), IPv4Address("10.0.0.12")),
    ),
    report_interval=5.0,
)


def test_config_and_report_round_trip() -> None:
    assert parse_config(config_to_json(CONFIG)) == CONFIG
    report = Report(3, IPv4Network("10.244.1.0/24"), ("a problem",), "0.1.0")
    assert parse_report(report_to_json(report)) == report
    empty = Report(0, None, (), "0.1.0")
    assert parse_report(report_to_json(empty)) == empty


@pytest.mark.parametrize(
    "body",
    [
        b"", b"null", b"[]", b"{}", b"\xff\xfe", b"[" * 100_000, b'{"routes_programmed": true, "agent_version": "x"}',
        b'{"routes_programmed": 1.5, "agent_version": "x"}', b'{"routes_programmed": -1, "agent_version": "x"}',
        b'{"routes_programmed": 1, "agent_version": "x", "pod_cidr": "10.244.1.1/24"}',
        b'{"routes_programmed": 1, "agent_version": "x", "errors": [1]}',
        b'{"routes_programmed": 1, "agent_version": "x", "errors": "no"}',
        b'{"routes_programmed": 1e400, "agent_version": "x"}',
        b'{"routes_programmed": NaN, "agent_version": "x"}',
        b" " * 70_000,
    ],
)  # fmt: skip
def test_hostile_reports_raise_protocol_error(body: bytes) -> None:
    with pytest.raises(ProtocolError):
        parse_report(body)


def test_hostile_configs_raise_protocol_error() -> None:
    good = json.loads(config_to_json(CONFIG))
    for key, value in [
        ("node", "Node_1"), ("node", "node-1\n"), ("routes", [{"dst": "10.244.2.0/24"}]),
        ("routes", [["10.244.2.0/24", "10.0.0.12"]]), ("routes", [{"dst": "x", "via": "10.0.0.1"}] * 2),
        ("report_interval", 0), ("report_interval", "5"), ("master_address", "10.0.0.256"),
        ("routes", [{"dst": "10.244.2.0/24", "via": "10.0.0.2"}] * 2000),
    ]:  # fmt: skip
        with pytest.raises(ProtocolError):
            parse_config(json.dumps(dict(good, **{key: value})).encode())


@given(st.binary(max_size=2000))
def test_any_bytes_give_a_config_or_protocol_error(body: bytes) -> None:
    for parse in (parse_config, parse_report):
        try:
            parse(body)
        except ProtocolError:
            pass


@given(st.recursive(st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=20),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=20), inner, max_size=6),
                    max_leaves=30))  # fmt: skip
def test_any_json_gives_a_report_or_protocol_error(value: object) -> None:
    body = json.dumps(value).encode()
    for parse in (parse_config, parse_report):
        try:
            parse(body)
        except ProtocolError:
            pass


def test_bearer_parsing() -> None:
    secret = "A" * 43
    assert parse_bearer(f"Bearer node-1.{secret}") == AgentCredential("node-1", secret)
    assert parse_bearer(f"bearer   node-1.{secret}") == AgentCredential("node-1", secret)
    for header in [None, "", f"Basic node-1.{secret}", f"Bearer node-1{secret}", f"Bearer .{secret}",
                   f"Bearer node-1.{secret} more", "Bearer node-1.short", f"Bearer NODE.{secret}", "Bearer " + "a" * 600]:  # fmt: skip
        assert parse_bearer(header) is None


@given(st.text(max_size=300))
def test_any_header_parses_or_is_refused(header: str) -> None:
    credential = parse_bearer(header)
    if credential is not None:
        assert parse_bearer(f"Bearer {credential.bearer}") == credential


def test_credential_file_round_trip_and_refusals(tmp_path: Path) -> None:
    credential = AgentCredential("node-2", "s3cr3t-" + "x" * 30)
    path = write_credential(tmp_path / "agent", credential)
    assert path.stat().st_mode & 0o777 == 0o600
    assert read_credential(tmp_path / "agent") == credential
    os.chmod(path, 0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        read_credential(tmp_path / "agent")
    os.chmod(path, 0o600)
    path.write_text("{not json")
    with pytest.raises(ConfigError, match="not an agent credential"):
        read_credential(tmp_path / "agent")
    with pytest.raises(ConfigError, match="no agent credential"):
        read_credential(tmp_path / "elsewhere")
    assert CREDENTIAL_FILE == path.name


def test_cni_conflist_and_atomic_write(tmp_path: Path) -> None:
    conf = render_conflist(IPv4Network("10.244.3.0/24"))
    assert conf["cniVersion"] == "1.0.0"
    plugins = conf["plugins"]
    assert isinstance(plugins, list)
    assert [p["type"] for p in plugins] == ["bridge", "portmap"]
    bridge = plugins[0]
    assert bridge["isGateway"] is True and bridge["ipMasq"] is False
    assert bridge["ipam"]["ranges"] == [[{"subnet": "10.244.3.0/24", "gateway": "10.244.3.1"}]]
    assert write_cni_config(IPv4Network("10.244.3.0/24"), tmp_path) is True
    assert write_cni_config(IPv4Network("10.244.3.0/24"), tmp_path) is False  # unchanged
    assert json.loads((tmp_path / CONFLIST_NAME).read_text()) == conf
    assert json.loads((tmp_path / LOOPBACK_NAME).read_text())["type"] == "loopback"
    assert sorted(p.name for p in tmp_path.iterdir()) == [CONFLIST_NAME, LOOPBACK_NAME]  # no temp files left
    with pytest.raises(ValueError):
        render_conflist(IPv4Network("10.244.3.0/31"))
