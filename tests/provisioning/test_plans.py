"""Plans: their steps by role, and the plans that do not fit a role."""

from __future__ import annotations

import pytest

from foundation.errors import UsageError
from provisioning import plans


def names(plan: str, role: str) -> list[str]:
    return [step.name for step in plans.steps_for(plan, role)]


def test_all_is_prepare_kubernetes_then_init_or_join() -> None:
    assert names("all", "worker") == names("prepare", "worker") + names("kubernetes", "worker") + names("join", "worker")
    assert names("all", "master")[-5:] == ["kubeadm-config", "kubeadm-init", "admin-kubeconfig", "registered", "pod-cidr"]
    assert names("all", "worker").index("doctor") == len(plans.PREPARE)  # the doctor runs before kubernetes
    assert names("reprovision", "worker")[:5] == ["drain", "kubeadm-reset", "clean-cni", "clean-rules", "delete-node"]
    for plan in plans.PLANS:
        for role in ("master", "worker"):
            try:
                steps = names(plan, role)
            except UsageError:
                continue
            assert len(steps) == len(set(steps)), (plan, role)  # step names identify a resume point


@pytest.mark.parametrize("plan, role, says", [
    ("init", "worker", "plan init is for the master"),
    ("join", "master", "plan join is for workers"),
    ("reset", "master", "resetting the master would end the cluster"),
    ("reprovision", "master", "plan reprovision is for workers"),
    ("everything", "worker", "unknown plan 'everything'; plans: all, prepare"),
])  # fmt: skip
def test_plans_that_do_not_fit(plan: str, role: str, says: str) -> None:
    with pytest.raises(UsageError, match=says):
        plans.steps_for(plan, role)
