"""Which Raspberry Pi boards can run this cluster, and why.

The hard line is the CPU: Kubernetes publishes no 32-bit ARM packages since
v1.27 (pkgs.k8s.io carries arm64 only), so a board needs a 64-bit (ARMv8)
core. That is decided by the SoC, not by the board name, so boards added to
the revision table later are judged correctly:

- BCM2835 (ARM1176, ARMv6): Pi 1 A/B/A+/B+, CM1, Zero, Zero W -> refused.
- BCM2836 (Cortex-A7, ARMv7): the first Pi 2 B (v1.0/v1.1) -> refused.
- BCM2837 (Cortex-A53), BCM2711 (A72), BCM2712 (A76): Pi 3, Zero 2 W, CM3,
  Pi 4/400/CM4, Pi 5/500/CM5 -> accepted.

The Pi 2 B v1.2 carries a BCM2837. It boots a 64-bit kernel and userland, so
it is accepted like a 1 GB Pi 3B: fine as a worker, with a warning that
Raspberry Pi does not list it among the boards for its 64-bit OS image, and
never as the master (see below).

Memory: kubeadm's preflight refuses a control plane under 1700 MB, so the
master wants 2 GB or more; a worker runs (tightly) with 512 MB to 1 GB.
"""

from __future__ import annotations

from dataclasses import dataclass

from hardware.models import RevisionInfo

MASTER_MIN_MB = 2048
"""Below this the master is warned about: kubeadm refuses a control plane under 1700 MB."""
WORKER_TIGHT_MB = 1024
"""Below this a worker is warned about: kubelet + containerd leave little for pods."""

SOC_64BIT = frozenset({"BCM2837", "BCM2711", "BCM2712"})
PI2_WITH_BCM2837 = 0x04  # board type "2B" reporting a BCM2837 processor


@dataclass(frozen=True)
class Verdict:
    """Whether a board can run the cluster in a role, with the reason in words."""

    supported: bool
    """False when the board cannot run Kubernetes at all (32-bit CPU or unknown SoC)."""
    reason: str
    """One sentence a user understands: why it is accepted or refused."""
    warnings: tuple[str, ...] = ()
    """Things that work but are tight or unusual (RAM, unlisted boards)."""


def assess(info: RevisionInfo, role: str = "worker") -> Verdict:
    """Judge a decoded board for `role` ("master" or "worker")."""
    if role not in ("master", "worker"):
        raise ValueError(f"role must be master or worker, not {role!r}")
    if info.soc not in SOC_64BIT:
        if info.soc.startswith("unknown"):
            return Verdict(
                False,
                f"{info.model} reports an unknown processor ({info.soc}); "
                "update the appliance to a version that knows this board",
            )
        return Verdict(
            False,
            f"{info.model} has a {info.soc} ({info.cpu}, {info.arch}), a 32-bit CPU; "
            "Kubernetes ships only 64-bit ARM packages since v1.27, so use a Pi 3, 4, 5 or Zero 2 W",
        )
    warnings: list[str] = []
    if info.type_code == PI2_WITH_BCM2837:
        warnings.append(
            "a Pi 2 B v1.2 (BCM2837) runs 64-bit but is not on Raspberry Pi's list of boards "
            "for the 64-bit OS image; expect to test it yourself"
        )
    memory = info.memory_mb
    if memory is None:
        warnings.append("the revision code does not say how much RAM the board has")
    elif role == "master" and memory < MASTER_MIN_MB:
        warnings.append(
            f"{memory} MB RAM is too little for the master: kubeadm refuses a control plane "
            "under 1700 MB; use a board with 2 GB or more as the master"
        )
    elif role == "worker" and memory < WORKER_TIGHT_MB:
        warnings.append(
            f"{memory} MB RAM leaves little room for pods once kubelet and containerd run"
        )
    reason = f"{info.model} has a {info.soc} ({info.cpu}), a 64-bit CPU that runs arm64 Kubernetes"
    return Verdict(True, reason, tuple(warnings))
