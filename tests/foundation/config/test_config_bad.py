"""Table of bad cluster.yaml files: each gives exactly one problem, at a known line and key path."""

from __future__ import annotations

from typing import NamedTuple

import pytest

from tests.foundation.config.config_helpers import doc, problems_of


class Bad(NamedTuple):
    id: str
    yaml: str
    line: int
    path: str
    says: str
    """A fragment of the message (what or fix) that a user needs to see."""


CASES = [
    Bad("unknown-section", """
        cluster:
          name: picluster
        netwrok:
          subnet: 10.0.0.0/24
        """, 3, "netwrok", "did you mean `network`"),
    Bad("unknown-key", """
        network:
          lan_interface: eth0
          subnett: 10.0.0.0/24
        """, 3, "network.subnett", "did you mean `subnet`"),
    Bad("unknown-key-no-match", """
        provisioning:
          zzz: 1
        """, 2, "provisioning.zzz", "known keys here: approve, parallelism, host_keys, ssh_user"),
    Bad("section-not-mapping", """
        cluster: [picluster]
        """, 1, "cluster", "expected a mapping of keys, found a list"),
    Bad("nat-not-mapping", """
        network:
          nat: nftables
        """, 2, "network.nat", "found `nftables`"),
    Bad("int-quoted", """
        network:
          lease_time: "600"
        """, 2, "network.lease_time", 'found "600"'),
    Bad("int-bool", """
        network:
          lease_time: true
        """, 2, "network.lease_time", "a whole number of seconds"),
    Bad("int-float", """
        network:
          max_lease_time: 7200.5
        """, 2, "network.max_lease_time", "a whole number"),
    Bad("lease-zero", """
        network:
          lease_time: 0
        """, 2, "network.lease_time", "out of range"),
    Bad("lease-above-max", """
        network:
          lease_time: 9000
          max_lease_time: 7200
        """, 2, "network.lease_time", "longer than max_lease_time"),
    Bad("parallelism-high", """
        provisioning:
          approve: manual
          parallelism: 65
        """, 3, "provisioning.parallelism", "between 1 and 64"),
    Bad("cidr-prefix-33", """
        network:
          subnet: 10.0.0.0/33
        """, 2, "network.subnet", "not an IPv4 CIDR"),
    Bad("cidr-host-bits", """
        network:
          subnet: 10.0.0.1/24
        """, 2, "network.subnet", "write the network address: 10.0.0.0/24"),
    Bad("cidr-no-prefix", """
        kubernetes:
          pod_cidr: 10.244.0.0
        """, 2, "kubernetes.pod_cidr", "has no /prefix"),
    Bad("address-invalid", """
        network:
          master_address: 10.0.0.300
        """, 2, "network.master_address", "not an IPv4 address"),
    Bad("master-outside-subnet", """
        network:
          subnet: 10.0.0.0/24
          master_address: 10.0.1.1
        """, 3, "network.master_address", "not a host address of 10.0.0.0/24"),
    Bad("master-is-network-address", """
        network:
          master_address: 10.0.0.0
          dhcp_range: [10.0.0.2, 10.0.0.9]
        """, 2, "network.master_address", "not a host address"),
    Bad("master-inside-dhcp-range", """
        network:
          master_address: 10.0.0.5
          dhcp_range: [10.0.0.2, 10.0.0.250]
        """, 2, "network.master_address", "inside the DHCP range"),
    Bad("dhcp-range-reversed", """
        network:
          dhcp_range: [10.0.0.250, 10.0.0.2]
        """, 2, "network.dhcp_range", "write [10.0.0.2, 10.0.0.250]"),
    Bad("dhcp-range-outside", """
        network:
          subnet: 10.0.0.0/24
          dhcp_range:
            - 10.0.0.2
            - 10.0.1.20
        """, 3, "network.dhcp_range", "not inside the host addresses"),
    Bad("dhcp-range-broadcast", """
        network:
          dhcp_range: [10.0.0.2, 10.0.0.255]
        """, 2, "network.dhcp_range", "10.0.0.1..10.0.0.254"),
    Bad("dhcp-range-one-address", """
        network:
          dhcp_range: [10.0.0.2]
        """, 2, "network.dhcp_range", "found 1"),
    Bad("pod-overlaps-lan", """
        network:
          subnet: 10.0.0.0/24
        kubernetes:
          pod_cidr: 10.0.0.0/16
        """, 4, "kubernetes.pod_cidr", "overlaps network.subnet"),
    Bad("pod-overlaps-services", """
        kubernetes:
          pod_cidr: 10.96.0.0/16
          service_cidr: 10.96.0.0/12
        """, 2, "kubernetes.pod_cidr", "overlaps kubernetes.service_cidr"),
    Bad("service-cidr-too-big", """
        kubernetes:
          service_cidr: 10.0.0.0/8
        """, 2, "kubernetes.service_cidr", "between /12 and /28"),
    Bad("node-mask-not-longer", """
        kubernetes:
          pod_cidr: 10.244.0.0/16
          node_cidr_mask: 16
        """, 3, "kubernetes.node_cidr_mask", "not longer than pod_cidr's /16"),
    Bad("node-mask-too-few-slices", """
        kubernetes:
          pod_cidr: 10.244.0.0/20
          node_cidr_mask: 24
        """, 3, "kubernetes.node_cidr_mask", "holds 16 slices of /24, but 250 nodes"),
    Bad("node-mask-slices-count-fixed-addresses", """
        network:
          dhcp_range: [10.0.0.2, 10.0.0.16]
        kubernetes:
          pod_cidr: 10.244.0.0/20
        nodes:
          - name: node-1
            mac: "b8:27:eb:00:00:01"
            address: 10.0.0.100
        """, 4, "kubernetes.node_cidr_mask", "but 17 nodes can get addresses (DHCP range 15, master 1, fixed 1)"),
    Bad("node-mask-too-long", """
        kubernetes:
          node_cidr_mask: 29
        """, 2, "kubernetes.node_cidr_mask", "between 1 and 28"),
    Bad("cluster-name-underscore", """
        cluster:
          name: pi_cluster
        """, 2, "cluster.name", "not a DNS label"),
    Bad("cluster-name-capitals", """
        cluster:
          name: PiCluster
        """, 2, "cluster.name", "write `picluster`"),
    Bad("cluster-name-too-long", """
        cluster:
          name: %s
        """ % ("a" * 64), 2, "cluster.name", "longer than 63"),
    Bad("domain-empty-label", """
        cluster:
          domain: cluster..home
        """, 2, "cluster.domain", "not a DNS label"),
    Bad("domain-trailing-dot", """
        cluster:
          domain: cluster.home.
        """, 2, "cluster.domain", "ends with a dot"),
    Bad("pattern-without-n", """
        network:
          node_name_pattern: worker
        """, 2, "network.node_name_pattern", "exactly once"),
    Bad("pattern-not-a-label", """
        network:
          node_name_pattern: "Node-{n}"
        """, 2, "network.node_name_pattern", "capital letters"),
    Bad("pattern-other-braces", """
        network:
          node_name_pattern: "node-{n}-{x}"
        """, 2, "network.node_name_pattern", "no other braces"),
    Bad("node-bad-mac", """
        nodes:
          - name: node-1
            mac: "b8:27:eb:12:34"
        """, 3, "nodes[0].mac", "not a MAC address"),
    Bad("node-multicast-mac", """
        nodes:
          - name: node-1
            mac: "01:00:5e:00:00:01"
        """, 3, "nodes[0].mac", "multicast"),
    Bad("node-duplicate-mac", """
        nodes:
          - name: node-1
            mac: "b8:27:eb:12:34:56"
          - name: node-2
            mac: "B8-27-EB-12-34-56"
        """, 5, "nodes[1].mac", "already used by nodes[0]"),
    Bad("node-duplicate-name", """
        nodes:
          - name: node-1
            mac: "b8:27:eb:12:34:56"
          - name: node-1
            mac: "b8:27:eb:12:34:57"
        """, 4, "nodes[1].name", "already used by nodes[0]"),
    Bad("node-duplicate-address", """
        nodes:
          - {name: node-1, mac: "b8:27:eb:00:00:01", address: 10.0.0.12}
          - {name: node-2, mac: "b8:27:eb:00:00:02", address: 10.0.0.12}
        """, 3, "nodes[1].address", "already used"),
    Bad("node-duplicate-client-id", """
        nodes:
          - name: node-1
            client_id: "01:b8:27:eb:00:00:01"
          - name: node-2
            client_id: "01:B8:27:EB:00:00:01"
        """, 5, "nodes[1].client_id", "already used"),
    Bad("node-bad-client-id", """
        nodes:
          - name: node-1
            client_id: "01"
        """, 3, "nodes[0].client_id", "not a client identifier"),
    Bad("node-address-outside-subnet", """
        nodes:
          - name: node-1
            mac: "b8:27:eb:00:00:01"
            address: 10.0.5.12
        """, 4, "nodes[0].address", "not a host address of 10.0.0.0/24"),
    Bad("node-address-is-master", """
        nodes:
          - name: node-1
            mac: "b8:27:eb:00:00:01"
            address: 10.0.0.1
        """, 4, "nodes[0].address", "the master's address"),
    Bad("node-without-name", """
        nodes:
          - name: node-1
            mac: "b8:27:eb:00:00:01"
          - mac: "b8:27:eb:00:00:02"
        """, 4, "nodes[1].name", "add `name: ...`"),
    Bad("node-without-mac-or-client-id", """
        nodes:
          - name: node-1
            address: 10.0.0.12
        """, 2, "nodes[0]", "neither mac nor client_id"),
    Bad("node-unknown-key", """
        nodes:
          - name: node-1
            mac: "b8:27:eb:00:00:01"
            adress: 10.0.0.12
        """, 4, "nodes[0].adress", "did you mean `address`"),
    Bad("node-entry-not-a-mapping", """
        nodes:
          - name: node-1
            mac: "b8:27:eb:00:00:01"
          - node-2
        """, 4, "nodes[1]", "expected a mapping of keys, found `node-2`"),
    Bad("nodes-not-a-list", """
        nodes:
          name: node-1
        """, 2, "nodes", "expected a list"),
    Bad("token-ttl-zero", """
        kubernetes:
          token_ttl: 0
        """, 2, "kubernetes.token_ttl", "never expires"),
    Bad("token-ttl-too-long", """
        kubernetes:
          token_ttl: 48h
        """, 2, "kubernetes.token_ttl", "outside 1m..24h"),
    Bad("token-ttl-words", """
        kubernetes:
          token_ttl: 2 hours
        """, 2, "kubernetes.token_ttl", "not a duration"),
    Bad("k8s-version-old", """
        kubernetes:
          version: "1.26"
        """, 2, "kubernetes.version", "too old"),
    Bad("k8s-version-patch", """
        kubernetes:
          version: 1.34.2
        """, 2, "kubernetes.version", "one repository per minor version"),
    Bad("api-sans-bad", """
        kubernetes:
          api_server_sans: [kubernetes.cluster.home, "bad name"]
        """, 2, "kubernetes.api_server_sans[1]", "not a DNS label"),
    Bad("upstream-dns-string", """
        network:
          upstream_dns: 192.0.2.53
        """, 2, "network.upstream_dns", "neither `auto` nor a list"),
    Bad("upstream-dns-bad-entry", """
        network:
          upstream_dns:
            - 192.0.2.53
            - resolver.example
        """, 4, "network.upstream_dns[1]", "not an IPv4 address"),
    Bad("nat-backend", """
        network:
          nat:
            backend: iptables
        """, 3, "network.nat.backend", "use one of nftables, userspace"),
    Bad("approve-mode", """
        provisioning:
          approve: auto
        """, 2, "provisioning.approve", "manual, raspberry-pi, all"),
    Bad("listen-no-port", """
        web:
          listen: ["10.0.0.1"]
        """, 2, "web.listen[0]", "not ADDR:PORT"),
    Bad("listen-port-range", """
        web:
          listen:
            - "10.0.0.1:8080"
            - "uplink:70000"
        """, 4, "web.listen[1]", "not ADDR:PORT"),
    Bad("listen-not-master", """
        web:
          listen: ["10.0.0.7:8080"]
        """, 2, "web.listen[0]", "not the master's address"),
    Bad("listen-hostname", """
        web:
          listen: ["master.local:8080"]
        """, 2, "web.listen[0]", "neither an IPv4 address nor `uplink`"),
    Bad("plain-password-hash", """
        access:
          user: pi
          password_hash: hunter2
        """, 3, "access.password_hash", "looks like a plain password"),
    Bad("md5-admin-hash", """
        web:
          admin_password_hash: "$1$abcdefgh$0123456789abcdefghijkl"
        """, 2, "web.admin_password_hash", "too weak"),
    Bad("truncated-hash", """
        access:
          password_hash: "$6$examplesalt$..."
        """, 2, "access.password_hash", "not a complete crypt(3) hash"),
    Bad("plain-password-key", """
        access:
          user: pi
          password: hunter2
        """, 3, "access.password", "plain secret"),
    Bad("plain-psk-key", """
        wifi:
          ssid: HomeNetwork
          psk: "correct horse"
        """, 3, "wifi.psk", "wifi.psk_file"),
    Bad("secret-in-a-node-entry", """
        nodes:
          - name: node-1
            mac: "b8:27:eb:00:00:01"
            root_password: hunter2
        """, 4, "nodes[0].root_password", "plain secret"),
    Bad("ssh-key-garbage", """
        access:
          ssh_authorized_keys:
            - "ssh-ed25519 AAAA... you@laptop"
        """, 3, "access.ssh_authorized_keys[0]", "not valid base64"),
    Bad("ssh-key-no-type", """
        access:
          ssh_authorized_keys: ["my laptop key"]
        """, 2, "access.ssh_authorized_keys[0]", "not an OpenSSH public key"),
    Bad("ssh-private-key", """
        access:
          ssh_authorized_keys:
            - |
              -----BEGIN OPENSSH PRIVATE KEY-----
              b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ
              -----END OPENSSH PRIVATE KEY-----
        """, 3, "access.ssh_authorized_keys[0]", "PRIVATE key"),
    Bad("user-root", """
        access:
          user: root
        """, 2, "access.user", "root cannot be the login user"),
    Bad("country-uk", """
        wifi:
          country: UK
        """, 2, "wifi.country", "write GB"),
    Bad("country-lower", """
        wifi:
          country: de
        """, 2, "wifi.country", "write `DE`"),
    Bad("country-three-letters", """
        wifi:
          country: USA
        """, 2, "wifi.country", "not an ISO 3166 country code"),
    Bad("same-interfaces", """
        network:
          lan_interface: eth0
          uplink_interface: eth0
        """, 3, "network.uplink_interface", "also the LAN interface"),
    Bad("interface-name-too-long", """
        network:
          lan_interface: enx0123456789abcdef
        """, 2, "network.lan_interface", "not a network interface name"),
    Bad("empty-value", """
        cluster:
          name:
        """, 2, "cluster.name", "found nothing"),
]


def test_cases_are_distinct() -> None:
    assert len(CASES) >= 30
    assert len({case.id for case in CASES}) == len(CASES)
    assert len({doc(case.yaml) for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_config_names_line_and_key(case: Bad) -> None:
    problems = problems_of(doc(case.yaml))
    assert [(p.line, p.path) for p in problems] == [(case.line, case.path)], [str(p) for p in problems]
    line = str(problems[0])
    assert line.startswith(f"cluster.yaml:{case.line}: {case.path}: ")
    assert case.says in line
    assert " — " in line and "\n" not in line


def test_secrets_are_never_echoed() -> None:
    text = doc("""
        access:
          password_hash: hunter2-is-my-password
          passphrase: also-a-secret-value
        web:
          admin_password_hash: "$6$salt$hunter3-truncated"
        """)
    problems = problems_of(text)
    assert len(problems) == 3
    for problem in problems:
        assert "hunter" not in str(problem) and "secret-value" not in str(problem)


def test_all_problems_are_reported_in_file_order() -> None:
    text = doc("""
        web:
          listen: ["nowhere"]
        cluster:
          name: Bad_Name
        network:
          lease_time: -1
        """)
    problems = problems_of(text)
    assert [(p.line, p.path) for p in problems] == [
        (2, "web.listen[0]"), (4, "cluster.name"), (6, "network.lease_time")]


def test_pod_cidr_slices_fit_exactly() -> None:
    # 15 pool addresses + the master = 16 slices of /24 in a /20: just enough.
    text = doc("""
        network:
          dhcp_range: [10.0.0.2, 10.0.0.16]
        kubernetes:
          pod_cidr: 10.244.0.0/20
        nodes:
          - name: node-1
            mac: "b8:27:eb:00:00:01"
            address: 10.0.0.16
        """)
    assert problems_of(text) == []


def test_secret_under_an_unknown_section_is_named_too() -> None:
    problems = problems_of("extras:\n  - db_password: hunter2\n")
    assert [(p.line, p.path) for p in problems] == [(1, "extras"), (2, "extras[0].db_password")]


def test_keys_left_at_their_defaults_are_reported_at_the_key_that_moved() -> None:
    # Only the subnet changed: the master and the pool (defaults) no longer fit.
    problems = problems_of("cluster:\n  name: picluster\nnetwork:\n  subnet: 192.168.50.0/24\n")
    assert [(p.line, p.path) for p in problems] == [(4, "network.dhcp_range"), (4, "network.master_address")]
    assert "e.g. 192.168.50.1" in str(problems[1])


def test_refused_value_does_not_cascade_into_rules() -> None:
    # The subnet is refused; the master (default 10.0.0.1) must not also be
    # reported as "outside the subnet".
    problems = problems_of("network:\n  subnet: 10.0.0.1/24\n")
    assert [p.path for p in problems] == ["network.subnet"]
