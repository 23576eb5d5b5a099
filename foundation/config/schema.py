"""Which keys cluster.yaml has, how each value is parsed, and the reader that applies it.

The schema mirrors the dataclasses of `foundation.config.model` one to one (a
test keeps them in step); the README's configuration reference is rendered
from both, so the three cannot drift apart.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from yaml.nodes import MappingNode, Node, SequenceNode

from foundation.config import model as model
from foundation.config import secrets as secrets
from foundation.config import values as values
from foundation.config.problems import Invalid, Problem
from foundation.config.yaml_tree import kind_of

INTERNAL_FIELDS = frozenset({"source", "key_lines"})
"""Config fields that are not keys of the file."""


@dataclass(frozen=True)
class Key:
    """How one scalar or list key is parsed and documented."""

    parse: Callable[[Node], Any]
    """Turns the YAML node into the field's value, or raises Invalid."""
    kind: str
    """What the value is, in the reference's words."""
    default_text: str | None = None
    """How the default reads in the reference when the field's value would mislead (None: render it)."""
    required: bool = False
    """The key must be given (only inside list entries)."""


@dataclass(frozen=True)
class Section:
    """A mapping of keys read into one dataclass."""

    model: type
    """The dataclass it becomes."""
    keys: dict[str, Key | Section | Entries]
    """Its keys, in reference order."""


@dataclass(frozen=True)
class Entries:
    """A list whose entries are each a Section."""

    entry: Section
    """What every entry is."""


def build_schema(base_dir: Path) -> Section:
    """The whole file; base_dir anchors relative paths (the config file's folder)."""
    return Section(model.Config, {
        "cluster": Section(model.ClusterSection, {
            "name": Key(values.dns_label, "DNS label"),
            "domain": Key(values.dns_name, "DNS name"),
        }),
        "network": Section(model.NetworkSection, {
            "lan_interface": Key(values.interface_name, "interface name"),
            "uplink_interface": Key(values.interface_name, "interface name"),
            "subnet": Key(values.ipv4_network(8, 30), "IPv4 CIDR, /8 to /30"),
            "master_address": Key(values.ipv4_address, "IPv4 address"),
            "dhcp_range": Key(values.address_range, "[first, last] IPv4 addresses"),
            "lease_time": Key(values.seconds, "seconds"),
            "max_lease_time": Key(values.seconds, "seconds"),
            "upstream_dns": Key(values.upstream_dns, "`auto` or list of IPv4 addresses", "auto"),
            "nat": Section(model.NatSection, {
                "backend": Key(values.choice(("nftables", "userspace")), "nftables | userspace"),
            }),
            "node_name_pattern": Key(values.node_name_pattern, "pattern with `{n}`"),
        }),
        "kubernetes": Section(model.KubernetesSection, {
            "version": Key(values.kubernetes_version, "minor version, >= 1.27"),
            "pod_cidr": Key(values.ipv4_network(8, 28), "IPv4 CIDR"),
            # A slice longer than /28 leaves a node fewer than 14 pod addresses,
            # not even enough for the system pods of a small cluster.
            "node_cidr_mask": Key(lambda node: values.integer(node, 1, 28), "prefix length, up to 28"),
            # kube-apiserver refuses a service range larger than /12 (20 bits).
            "service_cidr": Key(values.ipv4_network(12, 28), "IPv4 CIDR, /12 to /28"),
            "api_server_sans": Key(lambda node: values.each(node, "names", values.api_server_san),
                                   "list of DNS names or addresses",
                                   "[kubernetes.DOMAIN]"),
            "token_ttl": Key(values.token_ttl, "duration, 1m to 24h", "2h"),
            "api_on_uplink": Key(values.boolean, "true | false"),
            "apt_repository": Key(values.apt_repository, "http(s) URL, `{version}` allowed"),
        }),
        "nodes": Entries(Section(model.NodeReservation, {
            "name": Key(values.dns_label, "DNS label", required=True),
            "mac": Key(values.optional(values.mac_address), "MAC address"),
            "client_id": Key(values.optional(values.client_id), "hex bytes joined by `:`"),
            "address": Key(values.optional(values.ipv4_address), "IPv4 address in the subnet"),
        })),
        "access": Section(model.AccessSection, {
            "user": Key(values.user_name, "user name"),
            "password_hash": Key(values.optional(secrets.crypt_hash), "crypt(3) hash"),
            "ssh_authorized_keys": Key(secrets.ssh_keys, "list of OpenSSH public keys"),
        }),
        "wifi": Section(model.WifiSection, {
            "ssid": Key(values.optional(values.ssid), "network name"),
            "psk_file": Key(values.optional(secrets.psk_file(base_dir)), "path, not world-readable"),
            "country": Key(values.country, "ISO 3166 code"),
        }),
        "provisioning": Section(model.ProvisioningSection, {
            "approve": Key(values.choice(("manual", "raspberry-pi", "all")), "manual | raspberry-pi | all"),
            "parallelism": Key(lambda node: values.integer(node, 1, 64), "1 to 64"),
            "host_keys": Key(values.choice(("auto", "cards", "trust-on-first-use")),
                             "auto | cards | trust-on-first-use"),
            "ssh_user": Key(values.user_name, "user name"),
            "forget_after": Key(values.duration(60, 365 * 86400), "duration, 1m to 365d", "1d"),
        }),
        "web": Section(model.WebSection, {
            "listen": Key(values.listen_list, "list of `ADDR:PORT` or `uplink:PORT`",
                          "[MASTER_ADDRESS:8080, uplink:8080]"),
            "admin_password_hash": Key(values.optional(secrets.crypt_hash), "crypt(3) hash"),
            "offline_after": Key(values.duration(10, 86400), "duration, 10s to 1d", "90s"),
            "session_lifetime": Key(values.duration(60, 30 * 86400), "duration, 1m to 30d", "12h"),
        }),
    })


class Reader:
    """Walks the node tree along the schema, collecting values, key lines and problems."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[Problem] = []
        self.lines: dict[str, int] = {}
        """Line of every key and list entry present in the file, by key path."""
        self.bad: set[str] = set()
        """Key paths whose value was refused (their defaults stand in)."""

    def problem(self, node: Node, path: str, what: str, fix: str) -> None:
        self.problems.append(Problem(self.source, node.start_mark.line + 1, path, what, fix))
        self.bad.add(path)

    def section(self, node: Node, path: str, spec: Section) -> Any:
        """Read a mapping into spec.model; None if a required key is missing."""
        if values.is_null(node):
            node = MappingNode("tag:yaml.org,2002:map", [], node.start_mark, node.end_mark)
        if not isinstance(node, MappingNode):
            example = next(iter(spec.keys))
            self.problem(node, path, f"expected a mapping of keys, found {kind_of(node)}",
                         f"indent keys under it, e.g. `{example}: ...` on the next line")
            required = any(isinstance(key, Key) and key.required for key in spec.keys.values())
            return None if required else spec.model()
        given: dict[str, Any] = {}
        for key_node, value in node.value:
            name = str(key_node.value)
            key_path = f"{path}.{name}" if path else name
            self.lines[key_path] = key_node.start_mark.line + 1
            if isinstance(value, SequenceNode):
                for index, item in enumerate(value.value):
                    self.lines[f"{key_path}[{index}]"] = item.start_mark.line + 1
            spec_key = spec.keys.get(name)
            if spec_key is None:
                if not (secrets.is_secret_key(name) and not values.is_null(value)):  # reported as a secret
                    self._unknown(key_node, key_path, name, spec)
                continue
            if isinstance(spec_key, Section):
                given[name] = self.section(value, key_path, spec_key)
            elif isinstance(spec_key, Entries):
                given[name] = self._entries(value, key_path, spec_key.entry)
            else:
                try:
                    given[name] = spec_key.parse(value)
                except Invalid as invalid:
                    if invalid.node is not None:
                        self.problem(invalid.node, f"{key_path}[{invalid.index}]", invalid.what, invalid.fix)
                        self.bad.add(key_path)
                    else:
                        # An empty value has its mark wherever the next token is; name the key's line.
                        at = key_node if values.is_null(value) else value
                        self.problem(at, key_path, invalid.what, invalid.fix)
        missing = [name for name, key in spec.keys.items() if isinstance(key, Key) and key.required
                   and name not in given]
        for name in missing:
            key_path = f"{path}.{name}" if path else name
            self.problem(node, key_path, "this entry has no " + name, f"add `{name}: ...` to it")
        return None if missing else spec.model(**given)

    def _entries(self, node: Node, path: str, entry: Section) -> tuple[Any, ...]:
        if values.is_null(node):
            return ()
        if not isinstance(node, SequenceNode):
            self.problem(node, path, f"expected a list, found {kind_of(node)}", "write one `- name: ...` entry per item")
            return ()
        read = []
        for index, item in enumerate(node.value):
            item_path = f"{path}[{index}]"
            read.append(self.section(item, item_path, entry))
        if None in read:
            # An entry without a name is dropped; the rules over `nodes` then
            # skip, because entry indices no longer match key paths.
            self.bad.add(path)
        return tuple(item for item in read if item is not None)

    def _unknown(self, key_node: Node, key_path: str, name: str, spec: Section) -> None:
        known = list(spec.keys)
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
        fix = f"did you mean `{close[0]}`?" if close else f"known keys here: {', '.join(known)}"
        self.problem(key_node, key_path, "unknown key", fix)


def schema_fields_match_model(spec: Section) -> list[str]:
    """Differences between a schema and its dataclasses (empty when they agree); used by a test."""
    differences: list[str] = []
    names = [f.name for f in fields(spec.model) if f.name not in INTERNAL_FIELDS]
    if names != list(spec.keys):
        differences.append(f"{spec.model.__name__}: model {names} != schema {list(spec.keys)}")
    for key in spec.keys.values():
        if isinstance(key, Section):
            differences += schema_fields_match_model(key)
        elif isinstance(key, Entries):
            differences += schema_fields_match_model(key.entry)
    return differences
