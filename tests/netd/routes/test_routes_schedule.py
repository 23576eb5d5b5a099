"""The route keeper's resync and retry policy, a pure schedule, tested by stepping a clock."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from netd.routes.keeper import RETRY_FIRST, ResyncSchedule


def delays(schedule: ResyncSchedule, start: float, outcomes: list[bool]) -> list[float]:
    """Step the clock to each due time in turn; the gaps between reconciles."""
    now, gaps = start, []
    for converged in outcomes:
        due = schedule.next(now, converged)
        gaps.append(round(due - now, 9))
        now = due
    return gaps


def test_a_converged_reconcile_waits_for_the_periodic_resync() -> None:
    schedule = ResyncSchedule(resync_interval=30.0)
    assert schedule.next(1000.0, converged=True) == 1030.0
    assert schedule.next(1030.0, converged=True) == 1060.0
    assert schedule.failures == 0


def test_failures_in_a_row_double_the_retry_delay_up_to_the_resync_interval() -> None:
    schedule = ResyncSchedule(resync_interval=30.0)
    assert RETRY_FIRST == 0.1
    assert delays(schedule, 0.0, [False] * 11) == [0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 12.8, 25.6, 30.0, 30.0]
    assert schedule.failures == 11


def test_a_link_down_for_hours_keeps_retrying_every_resync_interval() -> None:
    schedule = ResyncSchedule(resync_interval=30.0)
    gaps = delays(schedule, 0.0, [False] * 2000)
    assert gaps[-1] == 30.0 and max(gaps) == 30.0  # no overflow, no giving up


def test_success_forgets_the_failures() -> None:
    schedule = ResyncSchedule(resync_interval=30.0)
    assert delays(schedule, 50.0, [False, False, False, True, False, False]) == [0.1, 0.2, 0.4, 30.0, 0.1, 0.2]


def test_retries_when_an_address_vanishes_leave_room_for_the_event_that_brings_it_back() -> None:
    """What the kernel test relies on: a DHCP client drops the address at t=0 (the reconcile
    then fails); retries fail at 0.1, 0.3, 0.7 and 1.5 s, and the next is not until 3.1 s, so
    routes that are back 0.25 s after the address returns came back with the address event."""
    schedule = ResyncSchedule(resync_interval=30.0)
    now, retries = 0.0, []
    for _ in range(5):
        now = schedule.next(now, converged=False)
        retries.append(round(now, 9))
    assert retries == [0.1, 0.3, 0.7, 1.5, 3.1]
    assert schedule.failures == 5


def test_a_short_resync_interval_also_caps_the_first_retry() -> None:
    schedule = ResyncSchedule(resync_interval=0.05)
    assert delays(schedule, 0.0, [False, False, True]) == [0.05, 0.05, 0.05]


@given(st.lists(st.booleans(), max_size=200), st.floats(0.001, 3600), st.floats(0, 1e9))
def test_the_next_reconcile_is_never_later_than_a_resync_interval_away(
        outcomes: list[bool], interval: float, start: float) -> None:
    schedule = ResyncSchedule(resync_interval=interval)
    for gap in delays(schedule, start, outcomes):
        assert 0 < gap <= interval * (1 + 1e-9) + 1e-6

