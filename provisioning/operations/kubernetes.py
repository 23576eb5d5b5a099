"""Operations that install Kubernetes: the doctor's verdict first, then the apt source, the packages, the kubelet."""

from __future__ import annotations

import shlex

from hardware.doctor.report import REMOTE_COMMAND, DoctorReportError, parse_report
from provisioning import paths
from provisioning.connector import CommandResult
from provisioning.facts.packages import minor_of, upstream_version
from provisioning.operations.agent import unpack_actions
from provisioning.operations.base import (
    Action,
    Change,
    Context,
    ProvisionError,
    Put,
    Run,
    Verify,
    ok,
)
from provisioning.operations.runtime import apt_install
from provisioning.payload import DOCTOR

KUBE_PACKAGES = ("kubelet", "kubeadm", "kubectl")


MAX_SKEW = 30.0
"""Seconds a node's clock may differ from the master's: far inside certificate and token lifetimes."""


def doctor_judge(node: str, waived: frozenset[str] = frozenset()) -> object:
    """A judge for the doctor's JSON: None when nothing failed (but the `waived` checks), else every
    failure with its fix."""

    def judge(result: CommandResult) -> str | None:
        try:
            checks = parse_report(result.stdout, node)
        except DoctorReportError as error:
            tail = (result.stderr.strip().splitlines() or [""])[-1][:160]
            return f"{error}{'; it said: ' + tail if tail else ''}"
        failed = [check for check in checks if check.status == "fail" and check.name not in waived]
        if not failed:
            return None
        return f"{node}: the doctor found {len(failed)} problem(s): " + "; ".join(
            f"{check.name}: {check.detail} (fix: {check.fix})" for check in failed)

    return judge


def kubernetes_in_place(ctx: Context) -> bool:
    """Kubernetes of the wanted version is installed, held, and the node is in the cluster."""
    packages = [ctx.facts.packages.installed(name) for name in KUBE_PACKAGES]
    return ctx.facts.state.kubelet_conf and all(
        p is not None and p.held and minor_of(p.version) == ctx.config.kubernetes.version for p in packages)


def doctor(ctx: Context) -> Change:
    """Run the doctor on the node (its payload copied only when it changed); any failed check stops the plan.

    It guards the installation of Kubernetes; on a node where the wanted version runs already
    (and the steps before it have just verified cgroups, swap, modules and sysctls) it is not
    run again, which keeps a re-run free of the half second a Pi needs to start it."""
    if kubernetes_in_place(ctx):
        return ok(f"Kubernetes {ctx.config.kubernetes.version} runs here already (the doctor ran before it was installed)")
    actions: list[Action] = []
    sha = DOCTOR.sha256()
    if ctx.facts.state.doctor_payload_sha256 != sha:
        actions += unpack_actions(DOCTOR, sha)
    command = f"cd {shlex.quote(DOCTOR.home)} && {REMOTE_COMMAND} --role {shlex.quote(ctx.role)}"
    # The doctor fails a clock that NTP has not synchronised. What TLS and tokens need is a
    # clock that agrees with the master's; measured directly, that settles the question.
    waived = frozenset({"clock"}) if ctx.clock_skew is not None and ctx.clock_skew <= MAX_SKEW else frozenset()
    actions.append(Verify(command, doctor_judge(ctx.node, waived)))  # type: ignore[arg-type]
    reason = "doctor copied and run" if len(actions) > 1 else "doctor run"
    if waived:
        reason += f" (its clock check is waived: the node's clock is within {ctx.clock_skew:.0f} s of the master's)"
    return Change(reason, tuple(actions))


def repository_url(ctx: Context) -> str:
    """The configured repository for the configured minor version."""
    template = ctx.config.kubernetes.apt_repository
    return template.format(version=ctx.config.kubernetes.version)


def sources_text(url: str) -> str:
    """The one-line apt source, signed by the dearmored key (reference/kubeadm.md §6)."""
    return f"deb [signed-by={paths.K8S_KEYRING}] {url} /\n"


def apt_source(ctx: Context) -> Change:
    """The signing key and the source of the configured Kubernetes version."""
    url = repository_url(ctx)
    wanted = sources_text(url)
    packages = ctx.facts.packages
    if packages.k8s_sources == wanted and packages.k8s_keyring_sha256 is not None:
        return ok(f"apt source {url}")
    key_url = url.rstrip("/") + "/Release.key"
    fetch = (f"mkdir -p -m 755 {shlex.quote(paths.K8S_KEYRING.rsplit('/', 1)[0])} && "
             f"curl -fsSL --retry 3 {shlex.quote(key_url)} | gpg --dearmor --yes -o {shlex.quote(paths.K8S_KEYRING)} "
             f"&& chmod 644 {shlex.quote(paths.K8S_KEYRING)}")
    return Change(f"apt source and signing key for Kubernetes {ctx.config.kubernetes.version} ({url})",
                  (Run(fetch, timeout=120), Put(paths.K8S_SOURCES, wanted.encode())))


def kube_packages(ctx: Context) -> Change:
    """kubelet, kubeadm and kubectl of the configured minor version installed and held."""
    want = ctx.config.kubernetes.version
    facts = ctx.facts.packages
    installed = {name: facts.installed(name) for name in KUBE_PACKAGES}
    wrong = [f"{name} {upstream_version(p.version)}" for name, p in installed.items()
             if p is not None and minor_of(p.version) != want]
    if wrong and ctx.facts.state.kubelet_conf:
        raise ProvisionError(
            f"{ctx.node} runs {', '.join(wrong)} but cluster.yaml asks for {want}; a joined node is not "
            f"upgraded in place: set kubernetes.version back, or reprovision it (appliance nodes reprovision {ctx.node})")
    missing = [name for name, p in installed.items() if p is None or minor_of(p.version) != want]
    unheld = [name for name, p in installed.items() if p is not None and not p.held]
    actions: list[Run] = []
    if missing:
        actions.append(apt_install(list(KUBE_PACKAGES), extra="--allow-change-held-packages --allow-downgrades "))
    if missing or unheld:
        actions.append(Run("apt-mark hold " + " ".join(KUBE_PACKAGES)))
    if not actions:
        versions = sorted({upstream_version(p.version) for p in installed.values() if p is not None})
        return ok(f"{', '.join(KUBE_PACKAGES)} {', '.join(versions)} installed and held")
    reason = f"install {', '.join(missing)} ({want})" if missing else f"hold {', '.join(unheld)}"
    return Change(reason, tuple(actions))


def kubelet(ctx: Context) -> Change:
    """The kubelet starts at boot (kubeadm starts it the first time)."""
    unit = ctx.facts.units["kubelet.service"]
    if not unit.loaded:
        raise ProvisionError(f"{ctx.node}: kubelet.service is missing although kubelet is installed; "
                             "reinstall it: apt-get install --reinstall kubelet")
    if unit.enabled:
        return ok("kubelet enabled")
    return Change("kubelet enabled at boot", (Run("systemctl enable kubelet"),))
