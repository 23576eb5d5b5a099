"""Outside input the lab reads: NODE arguments and the user's cluster.yaml. Only documented errors escape."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from foundation.errors import ConfigError, UsageError
from hardware.lab import control
from hardware.lab import topology as t
from hardware.lab.master_config import lan_settings
from hardware.lab.state import LabDirs
from hardware.lab.status import parse_ptr_answers


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=400))
def test_config_bytes_give_a_config_or_config_error(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "cluster.yaml"
    path.write_bytes(data)
    try:
        subnet, master = lan_settings(path)
    except ConfigError as error:
        # The project's loader: one line per problem, each naming the file.
        assert all(line.startswith(str(path)) for line in str(error).splitlines())
    else:
        assert master.version == 4 and subnet.version == 4


@pytest.mark.parametrize("text", [
    "network: [1, 2]", "network: {subnet: 10.0.0.0/33}", "network: {master_address: nope}",
    "[" * 5000, "network: {lan_interface: enp1s0}", "\x00\xff",
])
def test_bad_configs_are_refused(tmp_path: Path, text: str) -> None:
    path = tmp_path / "cluster.yaml"
    path.write_text(text, errors="surrogateescape") if "\x00" not in text else path.write_bytes(b"\x00\xff")
    with pytest.raises(ConfigError):
        lan_settings(path)


# No deadline: a name that looks like a host is asked of the master's DNS with dig, a process
# whose start-up time is the machine's (a loaded one takes over 200 ms), not the code's.
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=60).filter(lambda s: s not in control.INFRASTRUCTURE and not s.startswith("pi-")))
def test_node_names_resolve_or_give_usage_error(tmp_path: Path, name: str) -> None:
    plan = t.make_plan(2, addressing="static")
    # No lab namespaces exist under this prefix-less temp dir: lookups must fail cleanly.
    dirs = LabDirs(tmp_path)
    try:
        control.resolve(dirs, plan, name)
    except UsageError as error:
        assert "no lab member called" in str(error)


def test_ptr_answers_map_addresses_to_appliance_names() -> None:
    text = (
        "2.0.0.10.in-addr.arpa.\t30\tIN\tPTR\tnode-4.cluster.home.\n"
        "3.0.0.10.in-addr.arpa. 30 IN PTR node-1.cluster.home.\n"
        ";; comment line\n"
        "cluster.home. 30 IN SOA master.cluster.home. hostmaster.cluster.home. 2 3600 600 86400 30\n"
        "x.0.0.10.in-addr.arpa. 30 IN PTR bogus.\n"
    )
    assert parse_ptr_answers(text) == {"10.0.0.2": "node-4", "10.0.0.3": "node-1"}


@given(st.text(max_size=300))
def test_ptr_parser_never_raises(text: str) -> None:
    for address, name in parse_ptr_answers(text).items():
        assert address.count(".") == 3 and "." not in name
