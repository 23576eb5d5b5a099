"""Operations: a provisioned node gets no action from any of them; each difference gets exactly its fix."""

from __future__ import annotations

import shlex

import pytest
import yaml

from hardware.swap import RPI_SWAP_DROPIN
from provisioning import paths, plans
from provisioning.connector import CommandResult
from provisioning.facts.packages import Package
from provisioning.facts.services import UnitState
from provisioning.kube_api import ClusterNode, ClusterView
from provisioning.operations import agent, cluster, kubernetes, runtime, system
from provisioning.operations.base import (
    Api,
    FetchAdminConf,
    IssueCredential,
    Join,
    ProvisionError,
    Put,
    Reboot,
    Run,
    Verify,
    WaitForNode,
)
from tests.provisioning.fact_samples import CMDLINE, change, context, provisioned, sha


def _commands(change_: object) -> list[str]:
    return [a.command for a in change_.actions if isinstance(a, Run)]  # type: ignore[attr-defined]


def _puts(change_: object) -> dict[str, bytes]:
    return {a.path: a.data for a in change_.actions if isinstance(a, Put)}  # type: ignore[attr-defined]


@pytest.mark.parametrize("plan", ["all", "prepare", "kubernetes", "join"])
def test_a_provisioned_worker_gets_no_changing_action(plan: str) -> None:
    ctx = context()
    for step in plans.steps_for(plan, "worker"):
        outcome = step.operation(ctx)
        assert not outcome.changed, (step.name, outcome)
        assert outcome.reason
        # The only action left on a provisioned node is the doctor's read-only run.
        assert all(isinstance(a, Verify) for a in outcome.actions), step.name


def test_the_architecture_guard_refuses_32_bit_with_the_fix() -> None:
    facts = provisioned()
    for machine, arch in (("armv7l", "armhf"), ("aarch64", "armhf")):
        bad = change(facts, system=change(facts.system, machine=machine, dpkg_arch=arch))
        with pytest.raises(ProvisionError, match=r"^node-1: .*32-bit.*fix: flash Raspberry Pi OS Lite \(64-bit\)"):
            system.architecture(context(bad))


def test_hostname_and_hosts() -> None:
    facts = provisioned()
    fresh = change(facts, system=change(facts.system, hostname="raspberrypi", etc_hostname="raspberrypi\n",
                                        etc_hosts="127.0.0.1\tlocalhost\n::1\tlocalhost\n127.0.1.1\traspberrypi\n"))
    outcome = system.hostname(context(fresh))
    assert _puts(outcome) == {"/etc/hostname": b"node-1\n",
                              "/etc/hosts": b"127.0.0.1\tlocalhost\n127.0.1.1\tnode-1\n::1\tlocalhost\n"}
    assert _commands(outcome) == ["hostname node-1"]
    assert system.hosts_text(None, "node-1") == "127.0.0.1\tlocalhost\n127.0.1.1\tnode-1\n"
    assert system.hosts_text("127.0.1.1 a\n127.0.1.1 b\n", "n") == "127.0.1.1\tn\n"


def test_boot_flags_then_one_reboot_then_a_clear_error_instead_of_a_loop() -> None:
    facts = provisioned()
    plain = (provisioned().system.boot_files["/boot/firmware/cmdline.txt"] or "").replace(
        " cgroup_enable=memory cgroup_memory=1", "")
    off = change(facts, system=change(facts.system, memory_cgroup=False, proc_cmdline="cgroup_disable=memory " + plain,
                                      boot_files={**facts.system.boot_files, "/boot/firmware/cmdline.txt": plain}))
    edit = system.boot_flags(context(off))
    assert _puts(edit) == {"/boot/firmware/cmdline.txt": CMDLINE.encode()}
    edited = change(off, system=change(off.system, boot_files=facts.system.boot_files))
    assert system.boot_flags(context(edited)).actions == ()
    assert system.reboot(context(edited)).actions == (Reboot(),)
    rebooted_but_off = change(edited, system=change(edited.system, proc_cmdline="cgroup_disable=memory " + CMDLINE))
    with pytest.raises(ProvisionError, match="rebooted with cgroup_enable=memory cgroup_memory=1 but the memory "
                                             "cgroup is still off"):
        system.reboot(context(rebooted_but_off))
    no_boot = change(facts, system=change(facts.system, memory_cgroup=False,
                                          boot_files=dict.fromkeys(facts.system.boot_files)))
    with pytest.raises(ProvisionError, match="neither /boot/firmware/cmdline.txt nor /boot/cmdline.txt exists"):
        system.boot_flags(context(no_boot))


def test_swap_modules_sysctls() -> None:
    facts = provisioned()
    swapping = change(facts, kernel=change(facts.kernel, swap=change(facts.kernel.swap, active_swaps=("/dev/zram0",),
                                                                    rpi_swap_dropin=None)))
    outcome = system.swap_off(context(swapping))
    assert list(_puts(outcome)) == [RPI_SWAP_DROPIN] and _commands(outcome) == ["swapoff -a"]
    bare = change(facts, kernel=change(facts.kernel, loaded_modules=frozenset({"overlay"}), modules_conf=None,
                                       sysctls={**facts.kernel.sysctls, "net.ipv4.ip_forward": 0}, sysctl_conf=""))
    modules = system.kernel_modules(context(bare))
    assert list(_puts(modules)) == [paths.MODULES_CONF] and _commands(modules) == ["modprobe -a br_netfilter"]
    sysctls = system.sysctls(context(bare))
    assert list(_puts(sysctls)) == [paths.SYSCTL_CONF]
    assert _commands(sysctls) == [f"sysctl -q -p {paths.SYSCTL_CONF}"]


def test_dhcpcd_gets_noarp_once() -> None:
    facts = provisioned()
    with_dhcpcd = change(facts, state=change(facts.state, dhcpcd_conf="hostname\npersistent"))
    (put,) = system.dhcpcd_noarp(context(with_dhcpcd)).actions
    assert isinstance(put, Put) and put.data.decode().endswith("persistent\n# The appliance's DHCP server probes "
                                                                 "every address before offering it.\nnoarp\n")
    done = change(facts, state=change(facts.state, dhcpcd_conf=put.data.decode()))
    assert system.dhcpcd_noarp(context(done)).actions == ()


def test_base_packages_containerd_and_cni() -> None:
    facts = provisioned()
    without = {k: v for k, v in facts.packages.packages.items() if k not in ("containerd", "gpg")}
    outcome = runtime.base_packages(context(change(facts, packages=change(facts.packages, packages=without))))
    (command,) = _commands(outcome)
    assert command.endswith("install --no-install-recommends containerd gpg") and "apt-get -q update" in command
    v1 = runtime.containerd_config("1.6.20~ds1-1+b1")
    v2 = runtime.containerd_config("2.1.4-1")
    assert 'version = 2' in v1 and 'plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options' in v1
    assert "version = 3" in v2 and "plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options" in v2
    assert all("SystemdCgroup = true" in text and paths.CNI_BIN_DIR in text for text in (v1, v2))
    stale = change(facts, state=change(facts.state, containerd_config_sha256=sha("old")))
    outcome = runtime.containerd(context(stale))
    assert list(_puts(outcome)) == [paths.CONTAINERD_CONFIG]
    assert _commands(outcome) == ["systemctl enable containerd && systemctl restart containerd"]
    stopped = change(facts, units={**facts.units, "containerd.service": UnitState(True, True, False)})
    assert _commands(runtime.containerd(context(stopped))) == ["systemctl enable --now containerd"]
    no_portmap = change(facts, state=change(facts.state, cni_plugins=frozenset({"bridge", "host-local", "loopback"})))
    assert "--reinstall containernetworking-plugins" in _commands(runtime.cni_plugins(context(no_portmap)))[0]


def test_the_agent_is_restarted_after_any_change_and_never_on_the_master() -> None:
    facts = provisioned()
    assert agent.agent(context(role="master")).reason.startswith("no agent on the master")
    wrong_secret = agent.agent(context(credential_sha256="0" * 64))
    assert isinstance(wrong_secret.actions[0], IssueCredential)
    assert _commands(wrong_secret)[-1] == ("systemctl enable appliance-agent.service && "
                                           "systemctl restart appliance-agent.service")
    loose_mode = change(facts, state=change(facts.state, credential=change(facts.state.credential, mode="644")))
    assert isinstance(agent.agent(context(loose_mode)).actions[0], IssueCredential)
    old_payload = agent.agent(context(change(facts, state=change(facts.state, agent_payload_sha256="1" * 64))))
    put, unpack = old_payload.actions[:2]
    assert isinstance(put, Put) and put.data == agent.AGENT.tar() and put.mode == 0o600
    assert isinstance(unpack, Run) and "python3 -I -c" in unpack.command and unpack.shown
    stopped = change(facts, units={**facts.units, "appliance-agent.service": UnitState(True, False, False)})
    assert _commands(agent.agent(context(stopped))) == ["systemctl enable --now appliance-agent.service"]
    assert "--master http://10.0.0.1:8081 --state-dir /var/lib/appliance-agent" in agent.unit_text("10.0.0.1")


def test_the_master_gets_the_agents_cni_config_but_no_agent() -> None:
    facts = provisioned("master-1", "master")
    bare = change(facts, state=change(facts.state, cni_confs=()))
    (run,) = agent.agent(context(bare, node="master-1", role="master")).actions
    assert isinstance(run, Run) and run.shown == "write the CNI config for 10.244.1.0/24 with the agent's code"
    assert shlex.split(run.command)[-1] == "10.244.1.0/24" and "from netd.cni import write_cni_config" in run.command
    assert agent.agent(context(facts, node="master-1", role="master")).actions == ()


def test_the_doctor_stops_the_plan_with_every_fix() -> None:
    judge = kubernetes.doctor_judge("node-1")
    report = ('{"checks": [{"name": "arch", "status": "ok", "detail": "d", "fix": ""},'
              '{"name": "memory-cgroup", "status": "fail", "detail": "memory missing", "fix": "add cgroup_enable=memory"},'
              '{"name": "swap", "status": "fail", "detail": "swap on", "fix": "swapoff -a"}]}')
    assert judge(CommandResult(1, report, "")) == (  # type: ignore[operator]
        "node-1: the doctor found 2 problem(s): memory-cgroup: memory missing (fix: add cgroup_enable=memory); "
        "swap: swap on (fix: swapoff -a)")
    assert judge(CommandResult(0, '{"checks": []}', "")) is None  # type: ignore[operator]
    assert "doctor output is not JSON" in judge(CommandResult(1, "", "ModuleNotFoundError: yaml"))  # type: ignore[operator]
    facts = provisioned()
    fresh = change(facts, state=change(facts.state, doctor_payload_sha256=None, kubelet_conf=False))
    copied = kubernetes.doctor(context(fresh))
    assert copied.changed and isinstance(copied.actions[-1], Verify)
    assert copied.actions[-1].command.endswith("python3 -m hardware.doctor -o json --role worker")
    assert "waived" not in copied.reason  # the clock skew is not known: the doctor's clock check counts
    waived = kubernetes.doctor(context(fresh, clock_skew=2.0))
    assert waived.reason.endswith("(its clock check is waived: the node's clock is within 2 s of the master's)")
    assert waived.actions[-1].judge(CommandResult(1, '{"checks": [{"name": "clock", "status": "fail", '  # type: ignore[union-attr]
                                                     '"detail": "not synchronised", "fix": "ntp"}]}', "")) is None
    assert kubernetes.doctor(context(fresh, clock_skew=300.0)).reason == "doctor copied and run"
    # Where the wanted Kubernetes runs already, the doctor is not started again.
    assert kubernetes.doctor(context()).actions == ()


def test_apt_source_and_packages_follow_the_configured_version() -> None:
    facts = provisioned()
    other = change(facts, packages=change(facts.packages, k8s_sources="deb [signed-by=x] https://old/ /\n"))
    outcome = kubernetes.apt_source(context(other))
    fetch = _commands(outcome)[0]
    assert "curl -fsSL --retry 3 https://pkgs.k8s.io/core:/stable:/v1.34/deb/Release.key | gpg --dearmor" in fetch
    assert _puts(outcome) == {paths.K8S_SOURCES: b"deb [signed-by=/etc/apt/keyrings/kubernetes-apt-keyring.gpg] "
                                                 b"https://pkgs.k8s.io/core:/stable:/v1.34/deb/ /\n"}
    unjoined = change(facts, state=change(facts.state, kubelet_conf=False))
    old = {**facts.packages.packages, "kubeadm": Package("kubeadm", "1.33.5-1.1", True, True)}
    upgrade = kubernetes.kube_packages(context(change(unjoined, packages=change(facts.packages, packages=old))))
    assert "--allow-change-held-packages --allow-downgrades kubelet kubeadm kubectl" in _commands(upgrade)[0]
    assert _commands(upgrade)[1] == "apt-mark hold kubelet kubeadm kubectl"
    with pytest.raises(ProvisionError, match="runs kubeadm 1.33.5 but cluster.yaml asks for 1.34; a joined node"):
        kubernetes.kube_packages(context(change(facts, packages=change(facts.packages, packages=old))))
    unheld = {**facts.packages.packages, "kubelet": Package("kubelet", "1.34.2-1.1", True, False)}
    hold = kubernetes.kube_packages(context(change(facts, packages=change(facts.packages, packages=unheld))))
    assert _commands(hold) == ["apt-mark hold kubelet kubeadm kubectl"]


def test_kubeadm_init_config_is_v1beta4_with_the_appliance_settings() -> None:
    ctx = context(node="master-1", role="master", uplink_address="192.0.2.192")
    documents = list(yaml.safe_load_all(cluster.kubeadm_config(ctx)))
    init, config, kubelet = documents
    assert (init["apiVersion"], init["kind"]) == ("kubeadm.k8s.io/v1beta4", "InitConfiguration")
    assert init["localAPIEndpoint"] == {"advertiseAddress": "10.0.0.1", "bindPort": 6443}
    assert init["nodeRegistration"]["name"] == "master-1"
    assert "token" not in init["bootstrapTokens"][0] and init["bootstrapTokens"][0]["ttl"] == "15m0s"
    assert config["kubernetesVersion"] == "v1.34.2"
    assert config["networking"] == {"podSubnet": "10.244.0.0/16", "serviceSubnet": "10.96.0.0/12"}
    assert config["controllerManager"]["extraArgs"] == [{"name": "allocate-node-cidrs", "value": "false"}]
    assert config["apiServer"]["certSANs"] == ["10.0.0.1", "192.0.2.192", "picluster-master.local",
                                               "master.cluster.home", "picluster.cluster.home", "master-1",
                                               "kubernetes.cluster.home"]
    assert kubelet == {"apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration",
                       "cgroupDriver": "systemd"}


def test_init_runs_once_and_admin_conf_is_copied_when_it_differs() -> None:
    facts = provisioned("master-1", "master")
    fresh = change(facts, state=change(facts.state, admin_conf_sha256=None, kubelet_conf=False, ca_crt=False))
    assert _commands(cluster.init(context(fresh, role="master"))) == [
        f"kubeadm init --config {paths.KUBEADM_CONFIG}"]
    half = change(fresh, state=change(fresh.state, manifests=("etcd.yaml",)))
    assert _commands(cluster.init(context(half, role="master")))[0] == "kubeadm reset -f"
    done = change(facts, state=change(facts.state, admin_conf_sha256="b" * 64))
    assert cluster.init(context(done, role="master")).actions == ()
    assert cluster.admin_conf(context(done, role="master")).actions == (FetchAdminConf(paths.ADMIN_CONF),)
    assert cluster.admin_conf(context(done, role="master", admin_conf_sha256="b" * 64)).actions == ()


def test_join_needs_the_api_and_cleans_leftovers_first() -> None:
    facts = provisioned()
    with pytest.raises(ProvisionError, match=r"the Kubernetes API at https://10.0.0.1:6443 cannot be used "
                                             r"\(refused\); provision the master first"):
        cluster.join(context(cluster=ClusterView(False, {}, "refused")))
    fresh = change(facts, state=change(facts.state, kubelet_conf=False, ca_crt=False))
    empty = ClusterView(True, {})
    assert cluster.join(context(fresh, cluster=empty)).actions == (Join("10.0.0.1:6443", "node-1"),)
    leftover = change(fresh, state=change(fresh.state, bootstrap_kubelet_conf=True))
    first, second = cluster.join(context(leftover, cluster=empty)).actions
    assert first == Run("kubeadm reset -f", timeout=300) and isinstance(second, Join)
    assert cluster.registered(context(cluster=empty)).actions == (WaitForNode("node-1"),)


def test_pod_cidr_is_written_once_and_a_different_one_is_an_error() -> None:
    unset = ClusterView(True, {"node-1": ClusterNode("node-1", True, None)})
    (api,) = cluster.pod_cidr(context(cluster=unset)).actions
    assert isinstance(api, Api) and api.description == "patch node-1 spec.podCIDR=10.244.1.0/24"
    other = ClusterView(True, {"node-1": ClusterNode("node-1", True, "10.244.9.0/24")})
    with pytest.raises(ProvisionError, match="spec.podCIDR cannot change: reprovision it"):
        cluster.pod_cidr(context(cluster=other))


def test_reset_takes_everything_away_and_then_nothing() -> None:
    ctx = context()
    assert [a.description for a in cluster.drain(ctx).actions] == ["cordon and drain node-1"]  # type: ignore[union-attr]
    assert [a.description for a in cluster.delete_node(ctx).actions] == ["delete node node-1"]  # type: ignore[union-attr]
    assert _commands(cluster.kubeadm_reset(ctx)) == ["kubeadm reset -f"]
    facts = provisioned()
    foreign = change(facts, state=change(facts.state, cni_confs=("10-appliance.conflist", "10-flannel.conflist")))
    assert _commands(cluster.clean_cni(context(foreign))) == [
        "rm -f /etc/cni/net.d/10-flannel.conflist && rm -rf /var/lib/cni && ip link delete cni0"]
    assert "grep -v -E '(KUBE-|CNI-)'" in _commands(cluster.clean_rules(ctx))[0]
    clean = change(facts, state=change(facts.state, kubelet_conf=False, ca_crt=False, cni_state=False,
                                       cni_bridge=False, kube_rules=0))
    after = context(clean, cluster=ClusterView(True, {}))
    assert all(not step.operation(after).changed for step in plans.RESET)


@pytest.mark.parametrize("hostile", ["x; reboot", "$(touch /tmp/pwned)", "`id`", "a'b", "n\nreboot"])
def test_values_in_commands_are_quoted(hostile: str) -> None:
    facts = provisioned()
    wrong_name = change(facts, system=change(facts.system, hostname="other"))
    (command,) = _commands(system.hostname(context(wrong_name, node=hostile)))
    assert shlex.split(command) == ["hostname", hostile]
    put, unpack = agent.unpack_actions(agent.AGENT, hostile)
    assert "printf '%s\\n' " + shlex.quote(hostile) + " > " in unpack.command
