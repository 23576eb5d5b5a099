"""kubeadm configuration files: v1beta4, deprecated v1beta3, the extraArgs change, old APIs."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hardware.lab.kubefake.kubeadm.config import parse_init
from hardware.lab.kubefake.kubeadm.errors import KubeadmError
from hardware.lab.kubefake.kubeadm.joincmd import join_command, one_line
from hardware.lab.kubefake.kubeadm.phases import apiserver_sans, flags_env

V1BETA4 = """apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
localAPIEndpoint: {advertiseAddress: 10.0.0.1, bindPort: 6443}
nodeRegistration: {name: master}
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
networking: {podSubnet: 10.244.0.0/16, serviceSubnet: 10.96.0.0/12, dnsDomain: cluster.home}
apiServer: {certSANs: [192.0.2.100, picluster-master.local]}
controllerManager:
  extraArgs: [{name: allocate-node-cidrs, value: "false"}]
"""


def test_v1beta4_is_read_with_list_extra_args() -> None:
    config = parse_init(V1BETA4)
    assert config.warnings == []
    assert (config.node.name, config.advertise_address, config.pod_subnet) == ("master", "10.0.0.1", "10.244.0.0/16")
    assert config.controller_manager_args == [("allocate-node-cidrs", "false")]
    dns, ips = apiserver_sans(config)
    assert "picluster-master.local" in dns and "kubernetes.default.svc.cluster.home" in dns
    assert ips == ["10.96.0.1", "10.0.0.1", "192.0.2.100"]


def test_v1beta3_is_accepted_with_the_deprecation_warning() -> None:
    text = V1BETA4.replace("v1beta4", "v1beta3").replace(
        'extraArgs: [{name: allocate-node-cidrs, value: "false"}]', 'extraArgs: {allocate-node-cidrs: "false"}')
    config = parse_init(text)
    assert config.controller_manager_args == [("allocate-node-cidrs", "false")]
    assert config.warnings[0].startswith('your configuration file uses a deprecated API spec: "kubeadm.k8s.io/v1beta3" '
                                         '(kind: "InitConfiguration"). Please use \'kubeadm config migrate')


def test_a_v1beta3_map_in_a_v1beta4_file_is_a_decoding_error() -> None:
    with pytest.raises(KubeadmError) as error:
        parse_init(V1BETA4.replace('extraArgs: [{name: allocate-node-cidrs, value: "false"}]',
                                   'extraArgs: {allocate-node-cidrs: "false"}'))
    assert "cannot unmarshal object into Go struct field" in error.value.message


def test_removed_api_versions_and_bad_subnets_are_refused() -> None:
    with pytest.raises(KubeadmError, match="uses an old API spec"):
        parse_init(V1BETA4.replace("v1beta4", "v1beta2"))
    with pytest.raises(KubeadmError) as error:
        parse_init(V1BETA4.replace("10.244.0.0/16", "10.244.0.0/33"))
    assert error.value.exit_code == 3 and "networking.podSubnet" in error.value.message


@given(st.text(max_size=300))
def test_hostile_config_text_gives_kubeadm_errors_only(text: str) -> None:
    try:
        parse_init(text, advertise_default="10.0.0.1")
    except KubeadmError:
        pass


def test_join_command_shapes() -> None:
    pin = "sha256:" + "a" * 64
    text = join_command("10.0.0.1:6443", "abcdef.0123456789abcdef", [pin])
    assert text == f"kubeadm join 10.0.0.1:6443 --token abcdef.0123456789abcdef \\\n    --discovery-token-ca-cert-hash {pin} "
    assert one_line(text) == f"kubeadm join 10.0.0.1:6443 --token abcdef.0123456789abcdef     --discovery-token-ca-cert-hash {pin} "


def test_flags_env_is_kubeadms_format() -> None:
    assert flags_env("unix:///var/run/containerd/containerd.sock", "node-1", [], "node-1") == \
        'KUBELET_KUBEADM_ARGS="--container-runtime-endpoint=unix:///var/run/containerd/containerd.sock"\n'
    assert "--hostname-override=node-1" in flags_env("unix:///x.sock", "node-1", [], "raspberrypi")


_values = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=8),
                    st.lists(st.text(max_size=5), max_size=3), st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=3))


@given(st.fixed_dictionaries({}, optional={
    "localAPIEndpoint": _values, "nodeRegistration": _values, "bootstrapTokens": _values, "networking": _values,
    "apiServer": _values, "controllerManager": _values, "kubernetesVersion": _values}))
def test_hostile_config_fields_give_kubeadm_errors_only(fields: dict[str, object]) -> None:
    import yaml
    init = {"apiVersion": "kubeadm.k8s.io/v1beta4", "kind": "InitConfiguration", **fields}
    cluster = {"apiVersion": "kubeadm.k8s.io/v1beta4", "kind": "ClusterConfiguration", **fields}
    for doc in (init, cluster):
        try:
            parse_init(yaml.safe_dump(doc), advertise_default="10.0.0.1")
        except KubeadmError:
            pass
