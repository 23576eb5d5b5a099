"""Parsers of single cluster.yaml values: a YAML node in, a typed value out, or Invalid.

Each parser checks only its own value; rules that relate two keys live in
`foundation.config.rules`. Messages say what was found and what is expected.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from ipaddress import AddressValueError, IPv4Address, IPv4Network
from typing import TypeVar

from yaml.nodes import Node, ScalarNode, SequenceNode

from foundation.config.countries import COMMON_MISTAKES, ISO_3166_ALPHA2
from foundation.config.problems import Invalid
from foundation.config.yaml_tree import kind_of, short

T = TypeVar("T")
NULL = "tag:yaml.org,2002:null"
INT = "tag:yaml.org,2002:int"

_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
_USER = re.compile(r"[a-z_][a-z0-9_-]{0,31}")
_MAC = re.compile(r"[0-9a-f]{2}([:-])[0-9a-f]{2}(\1[0-9a-f]{2}){4}")
_CLIENT_ID = re.compile(r"[0-9a-f]{2}(:[0-9a-f]{2})+")
_DURATION = re.compile(r"(\d{1,6}[smhd])+")
_VERSION = re.compile(r"1\.(\d{1,3})")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
OLDEST_KUBERNETES_MINOR = 27
"""Oldest minor accepted: older releases are long out of support and no longer
reliably installable from pkgs.k8s.io (and v1.27 is where 32-bit ARM packages ended)."""


def is_null(node: Node) -> bool:
    """True for `key:` with nothing after it, `~` or `null` (quoted, they are strings)."""
    return isinstance(node, ScalarNode) and node.tag == NULL


def text(node: Node, expected: str) -> str:
    """The scalar's text as written.

    String fields take the raw text even when YAML would read a number or a
    boolean, so `version: 1.30` stays "1.30", `country: NO` stays "NO" and an
    unquoted MAC like 12:34:56:78:9a:bc is not read as a base-60 number.
    """
    if not isinstance(node, ScalarNode):
        raise Invalid(f"expected {expected}, found {kind_of(node)}", f"write {expected} on this line")
    if is_null(node):
        raise Invalid(f"expected {expected}, found nothing",
                      "write a value, or delete the key to use the default")
    return str(node.value)


def optional(parse: Callable[[Node], T]) -> Callable[[Node], T | None]:
    """Wrap a parser so that an empty value or `null` means None (not set)."""

    def parse_optional(node: Node) -> T | None:
        return None if is_null(node) else parse(node)

    return parse_optional


def items(node: Node, expected: str) -> list[Node]:
    """The nodes of a YAML list; an empty value is an empty list."""
    if is_null(node):
        return []
    if not isinstance(node, SequenceNode):
        raise Invalid(f"expected a list of {expected}, found {kind_of(node)}",
                      "write a list, e.g. [a, b] or one `- item` per line")
    return list(node.value)


def each(node: Node, expected: str, parse: Callable[[Node], T]) -> tuple[T, ...]:
    """Parse every entry of a list; a refused entry is named by its index and line."""
    parsed = []
    for index, item in enumerate(items(node, expected)):
        try:
            parsed.append(parse(item))
        except Invalid as invalid:
            raise Invalid(invalid.what, invalid.fix, item, index) from None
    return tuple(parsed)


def integer(node: Node, low: int, high: int, unit: str = "") -> int:
    """A whole number within [low, high]."""
    expected = f"a whole number{unit}"
    if not isinstance(node, ScalarNode) or node.tag != INT or not re.fullmatch(r"[-+]?[0-9]+", node.value):
        found = kind_of(node) if not isinstance(node, ScalarNode) or node.style is None else f'"{short(node.value)}"'
        raise Invalid(f"expected {expected}, found {found}", f"write a number between {low} and {high}, without quotes")
    value = int(node.value)
    if not low <= value <= high:
        raise Invalid(f"{value} is out of range", f"use a number between {low} and {high}{unit}")
    return value


def choice(options: tuple[str, ...]) -> Callable[[Node], str]:
    """A parser accepting exactly one of options."""

    def parse_choice(node: Node) -> str:
        value = text(node, " or ".join(options))
        if value not in options:
            raise Invalid(f"`{short(value)}` is not one of {', '.join(options)}", f"use one of {', '.join(options)}")
        return value

    return parse_choice


def check_label(value: str) -> None:
    """Raise Invalid unless value is a lower-case DNS label (RFC 1123, as Kubernetes node names)."""
    if _LABEL.fullmatch(value):
        return
    if _LABEL.fullmatch(value.lower()):
        raise Invalid(f"`{short(value)}` has capital letters", f"write `{value.lower()}`; names are lower case")
    if len(value) > 63:
        raise Invalid(f"`{short(value)}` is longer than 63 characters", "use a shorter name")
    raise Invalid(f"`{short(value)}` is not a DNS label",
                  "use lower-case letters, digits and inner hyphens, e.g. node-1")


def dns_label(node: Node) -> str:
    """A single DNS label such as `picluster` or `node-1`."""
    value = text(node, "a name")
    check_label(value)
    return value


def dns_name(node: Node) -> str:
    """A DNS name such as `cluster.home`: labels joined by dots, at most 253 characters."""
    value = text(node, "a DNS name")
    if value.endswith("."):
        raise Invalid(f"`{short(value)}` ends with a dot", f"write `{short(value.rstrip('.'))}`")
    if len(value) > 253:
        raise Invalid("the name is longer than 253 characters", "use a shorter name")
    for label in value.split("."):
        check_label(label)
    return value


def interface_name(node: Node) -> str:
    """A Linux network interface name (at most 15 characters, no slash, colon or space)."""
    value = text(node, "an interface name")
    if not 1 <= len(value) <= 15 or value in (".", "..") or re.search(r"[/:\s]", value):
        raise Invalid(f"`{short(value)}` is not a network interface name",
                      "use the name `ip link` shows, e.g. eth0 or wlan0")
    return value


def user_name(node: Node) -> str:
    """A Linux user name other than root."""
    value = text(node, "a user name")
    if not _USER.fullmatch(value):
        raise Invalid(f"`{short(value)}` is not a user name", "use lower-case letters, digits, _ and -, e.g. pi")
    if value == "root":
        # The images create this user with sudo and log in as it over SSH;
        # root logins stay disabled.
        raise Invalid("root cannot be the login user", "use an ordinary user such as pi (it gets sudo)")
    return value


def ipv4_address(node: Node) -> IPv4Address:
    """An IPv4 address such as 10.0.0.1."""
    value = text(node, "an IPv4 address")
    try:
        return IPv4Address(value)
    except AddressValueError:
        hint = "without the /prefix" if "/" in value else "e.g. 10.0.0.1"
        raise Invalid(f"`{short(value)}` is not an IPv4 address", f"write four numbers 0-255 {hint}") from None


def ipv4_network(low: int, high: int) -> Callable[[Node], IPv4Network]:
    """A parser of a CIDR such as 10.0.0.0/24 whose prefix lies in [low, high]."""

    def parse_network(node: Node) -> IPv4Network:
        value = text(node, "a CIDR")
        if "/" not in value:
            raise Invalid(f"`{short(value)}` has no /prefix", "write a network like 10.0.0.0/24")
        try:
            network = IPv4Network(value)
        except ValueError as error:
            if "host bits set" in str(error):
                fixed = IPv4Network(value, strict=False)
                raise Invalid(f"{value} has host bits set", f"write the network address: {fixed}") from None
            raise Invalid(f"`{short(value)}` is not an IPv4 CIDR", "write a network like 10.0.0.0/24") from None
        if not low <= network.prefixlen <= high:
            raise Invalid(f"a /{network.prefixlen} network is not allowed here",
                          f"use a prefix between /{low} and /{high}")
        return network

    return parse_network


def address_range(node: Node) -> tuple[IPv4Address, IPv4Address]:
    """Two IPv4 addresses, the first and last of a range."""
    nodes = items(node, "two addresses")
    if len(nodes) != 2:
        raise Invalid(f"expected two addresses (first, last), found {len(nodes)}", "write [10.0.0.2, 10.0.0.250]")
    return ipv4_address(nodes[0]), ipv4_address(nodes[1])


def upstream_dns(node: Node) -> tuple[IPv4Address, ...] | None:
    """`auto` (None) or a non-empty list of IPv4 resolver addresses."""
    if isinstance(node, ScalarNode):
        if text(node, "`auto` or a list of addresses") == "auto":
            return None
        raise Invalid(f"`{short(node.value)}` is neither `auto` nor a list",
                      "write `auto`, or a list such as [192.0.2.53]")
    addresses = each(node, "addresses", ipv4_address)
    if not addresses:
        raise Invalid("the list of resolvers is empty", "write `auto`, or list at least one address")
    return addresses


def mac_address(node: Node) -> str:
    """A unicast Ethernet address, returned in lower-case colon form."""
    value = text(node, "a MAC address").lower()
    if not _MAC.fullmatch(value):
        raise Invalid(f"`{short(value)}` is not a MAC address", 'write six hex pairs, e.g. "b8:27:eb:12:34:56"')
    value = value.replace("-", ":")
    if int(value[:2], 16) & 1:
        raise Invalid(f"{value} is a multicast address, not a network card's",
                      "copy the MAC from the node's label or `ip link`")
    return value


def client_id(node: Node) -> str:
    """A DHCP client identifier (option 61): 2 to 255 hex bytes joined by colons."""
    value = text(node, "a client identifier").lower()
    if not _CLIENT_ID.fullmatch(value) or not 2 <= len(value.split(":")) <= 255:
        raise Invalid(f"`{short(value)}` is not a client identifier",
                      'write hex bytes joined by colons, e.g. "01:b8:27:eb:12:34:56"')
    return value


def seconds(node: Node) -> int:
    """A positive number of seconds that fits DHCP's 32-bit lease field."""
    return integer(node, 1, 0xFFFFFFFE, " of seconds")


def token_ttl(node: Node) -> int:
    """A kubeadm-style duration (`30m`, `2h`, `1h30m`, `1d`) between 1m and 24h, in seconds."""
    value = text(node, "a duration like 2h")
    # kubeadm takes 0 to mean "never expires". We refuse it: a token that
    # never expires is a standing credential to join a node to the cluster.
    if re.fullmatch(r"0+[smhd]?", value):
        raise Invalid("a TTL of 0 (kubeadm: never expires) is refused", "use a TTL from 1m to 24h, e.g. 2h")
    if not _DURATION.fullmatch(value):
        raise Invalid(f"`{short(value)}` is not a duration", "write a number with a unit: 30m, 2h or 1d")
    total = sum(int(number) * _UNITS[unit] for number, unit in re.findall(r"(\d+)([smhd])", value))
    if not 60 <= total <= 86400:
        raise Invalid(f"{value} is outside 1m..24h", "use a TTL from 1m to 24h; mint a new token when needed")
    return total


def boolean(node: Node) -> bool:
    """`true` or `false` (YAML's yes/no/on/off are refused: `country: NO` taught us to be plain)."""
    value = text(node, "true or false")
    if value not in ("true", "false"):
        raise Invalid(f"`{short(value)}` is not true or false", "write true or false")
    return value == "true"


def duration(low: int, high: int) -> Callable[[Node], int]:
    """A duration like `90s`, `30m`, `2h` or `7d`, from `low` to `high` seconds, in seconds."""

    def parse_duration(node: Node) -> int:
        value = text(node, "a duration like 2h")
        if not _DURATION.fullmatch(value):
            raise Invalid(f"`{short(value)}` is not a duration", "write a number with a unit: 90s, 30m, 2h or 7d")
        total = sum(int(number) * _UNITS[unit] for number, unit in re.findall(r"(\d+)([smhd])", value))
        if not low <= total <= high:
            raise Invalid(f"{value} is outside {low}s..{high}s", f"use a duration from {low}s to {high}s")
        return total

    return parse_duration


_URL = re.compile(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?/[A-Za-z0-9._~:/@%+-]*(\{version\}[A-Za-z0-9._~:/@%+-]*)*")


def apt_repository(node: Node) -> str:
    """An apt repository URL (http or https) ending in `/`; `{version}` is the only placeholder."""
    value = text(node, "a URL like https://pkgs.k8s.io/core:/stable:/v{version}/deb/")
    if not _URL.fullmatch(value):
        raise Invalid(f"`{short(value)}` is not an http(s) URL of letters, digits and /._~:@%+-",
                      "write e.g. https://pkgs.k8s.io/core:/stable:/v{version}/deb/ ({version} is kubernetes.version)")
    if not value.endswith("/"):
        raise Invalid(f"`{short(value)}` does not end with /", "end the repository URL with /, as apt expects")
    return value


def kubernetes_version(node: Node) -> str:
    """A Kubernetes minor version such as "1.34", at least 1.27."""
    value = text(node, 'a version like "1.34"')
    match = _VERSION.fullmatch(value)
    if not match:
        hint = " (pkgs.k8s.io has one repository per minor version)" if value.count(".") == 2 else ""
        raise Invalid(f"`{short(value)}` is not a minor version{hint}", 'write major.minor, e.g. "1.34"')
    if int(match.group(1)) < OLDEST_KUBERNETES_MINOR:
        raise Invalid(f"Kubernetes {value} is too old; its packages are gone from pkgs.k8s.io",
                      f'use 1.{OLDEST_KUBERNETES_MINOR} or newer, e.g. "1.34"')
    return value


def node_name_pattern(node: Node) -> str:
    """A name pattern with exactly one `{n}` that yields DNS labels."""
    value = text(node, 'a pattern like "node-{n}"')
    if value.count("{n}") != 1 or value.replace("{n}", "").count("{") + value.replace("{n}", "").count("}"):
        raise Invalid(f"`{short(value)}` must contain `{{n}}` exactly once and no other braces",
                      'write e.g. "node-{n}"')
    for n in (1, 10_000):
        check_label(value.replace("{n}", str(n)))
    return value


def api_server_san(node: Node) -> str:
    """A DNS name or an IPv4 address for the API server certificate."""
    value = text(node, "a DNS name or address")
    try:
        IPv4Address(value)
        return value
    except AddressValueError:
        return dns_name(node)


def country(node: Node) -> str:
    """An ISO 3166-1 alpha-2 country code (upper case), e.g. US."""
    value = text(node, "a country code like US")
    if value.upper() in COMMON_MISTAKES:
        raise Invalid(f"{value} is not an ISO 3166 country code", f"write {COMMON_MISTAKES[value.upper()]}")
    if value not in ISO_3166_ALPHA2:
        fix = f"write `{value.upper()}`" if value.upper() in ISO_3166_ALPHA2 else "write the two-letter code, e.g. US, GB, DE"
        raise Invalid(f"`{short(value)}` is not an ISO 3166 country code", fix)
    return value


def ssid(node: Node) -> str:
    """A Wi-Fi network name: 1 to 32 bytes of UTF-8."""
    value = text(node, "a network name")
    if not 1 <= len(value.encode()) <= 32:
        raise Invalid("a Wi-Fi network name has 1 to 32 bytes", "copy the name your router shows")
    return value


def listen_entry(node: Node) -> str:
    """`ADDR:PORT` or `uplink:PORT`."""
    value = text(node, "ADDR:PORT")
    host, _, port = value.rpartition(":")
    if not host or not re.fullmatch(r"[0-9]{1,5}", port) or not 1 <= int(port) <= 65535:
        raise Invalid(f"`{short(value)}` is not ADDR:PORT", 'write e.g. "10.0.0.1:8080" or "uplink:8080"')
    if host != "uplink":
        try:
            IPv4Address(host)
        except AddressValueError:
            raise Invalid(f"`{short(host)}` is neither an IPv4 address nor `uplink`",
                          'write e.g. "10.0.0.1:8080" or "uplink:8080"') from None
    return value


def listen_list(node: Node) -> tuple[str, ...]:
    """A non-empty list of distinct listen entries."""
    entries = list(each(node, "ADDR:PORT entries", listen_entry))
    if not entries:
        raise Invalid("the web page listens nowhere", 'list at least one entry, e.g. ["10.0.0.1:8080"]')
    duplicates = sorted({entry for entry in entries if entries.count(entry) > 1})
    if duplicates:
        raise Invalid(f"{duplicates[0]} is listed twice", "list each address once")
    return tuple(entries)
