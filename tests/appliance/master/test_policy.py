"""The daemon's pure policies, stepped with an explicit clock."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appliance.master.policy import (
    ForgetCandidate,
    auto_approves,
    due_for_forgetting,
    init_retry_due,
    is_offline,
)

PI = "dc:a6:32:01:02:03"
OTHER = "02:42:ac:11:00:02"


@pytest.mark.parametrize(("policy", "mac", "expected"), [
    ("manual", PI, False), ("manual", OTHER, False),
    ("raspberry-pi", PI, True), ("raspberry-pi", "B8:27:EB:00:00:01", True), ("raspberry-pi", OTHER, False),
    ("raspberry-pi", None, False), ("raspberry-pi", "not a mac", False),
    ("all", OTHER, True), ("all", None, True), ("something else", PI, False),
])
def test_approval_policy(policy: str, mac: str | None, expected: bool) -> None:
    assert auto_approves(policy, mac) is expected


@given(st.text(max_size=40))
def test_approval_never_fails_on_any_mac_text(mac: str) -> None:
    assert auto_approves("raspberry-pi", mac) in (True, False)


def candidate(name: str, **overrides: object) -> ForgetCandidate:
    values: dict[str, object] = {"name": name, "discovered": True, "master": False, "lease_active": False,
                                 "lease_ended": 1000.0, "last_seen": 1000.0}
    values.update(overrides)
    return ForgetCandidate(**values)  # type: ignore[arg-type]


def test_forget_schedule_takes_only_long_lapsed_never_approved_nodes() -> None:
    nodes = [
        candidate("phone"),
        candidate("leased", lease_active=True),
        candidate("approved", discovered=False),
        candidate("master", master=True),
        candidate("recent", lease_ended=1000.0 + 3600, last_seen=1000.0 + 3600),
        candidate("no-lease-row", lease_ended=None),
    ]
    day = 86400.0
    assert due_for_forgetting(nodes, now=1000.0 + day - 1, forget_after=day) == []
    assert due_for_forgetting(nodes, now=1000.0 + day, forget_after=day) == ["no-lease-row", "phone"]
    assert due_for_forgetting(nodes, now=1000.0 + day + 3600, forget_after=day) == ["no-lease-row", "phone", "recent"]


def test_offline_by_agent_silence_or_by_lease() -> None:
    assert not is_offline(has_agent=True, lease_active=False, last_heard=100.0, now=190.0, offline_after=90)
    assert is_offline(has_agent=True, lease_active=True, last_heard=100.0, now=190.5, offline_after=90)
    # Without an agent only DHCP renewals are heard (every half lease): the lease decides.
    assert not is_offline(has_agent=False, lease_active=True, last_heard=0.0, now=10_000.0, offline_after=90)
    assert is_offline(has_agent=False, lease_active=False, last_heard=9_999.0, now=10_000.0, offline_after=90)


def test_a_failed_master_init_is_tried_again_with_a_growing_pause() -> None:
    assert init_retry_due(0, None, now=0.0)  # never tried: now
    assert not init_retry_due(1, 1000.0, now=1059.0) and init_retry_due(1, 1000.0, now=1060.0)
    assert not init_retry_due(2, 1000.0, now=1119.0) and init_retry_due(2, 1000.0, now=1120.0)
    assert not init_retry_due(9, 1000.0, now=1899.0) and init_retry_due(9, 1000.0, now=1900.0)  # 15 min cap
