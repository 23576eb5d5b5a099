"""The agent's report schedule (netd.agent.schedule), tested by stepping a clock."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from netd.agent.schedule import ReportSchedule


def step(schedule: ReportSchedule, now: float, answers: list[float | None]) -> list[float]:
    """Report at each due time in turn (the master answering with each of `answers`); the gaps
    between reports (rounded to the nanosecond: the clock is a float)."""
    gaps = []
    for answer in answers:
        due = schedule.next(now, answer)
        gaps.append(round(due - now, 9))
        now = due
    return gaps


def test_an_answered_report_waits_for_the_masters_interval() -> None:
    schedule = ReportSchedule(1.0, 60.0, random.Random(7))
    assert step(schedule, 100.0, [5.0, 5.0, 0.3]) == [5.0, 5.0, 0.3]
    assert schedule.failures == 0


def test_unanswered_reports_back_off_with_jitter_up_to_the_cap_and_an_answer_resets() -> None:
    schedule = ReportSchedule(1.0, 8.0, random.Random(7))
    gaps = step(schedule, 0.0, [None] * 8)
    ceilings = [1, 2, 4, 8, 8, 8, 8, 8]
    assert all(c / 2 <= g <= c for g, c in zip(gaps, ceilings, strict=True))
    assert len(set(gaps)) == len(gaps)  # jittered: no two agents retry in lockstep
    assert schedule.failures == 8
    assert step(schedule, 500.0, [5.0]) == [5.0]  # the master answers: its interval again ...
    assert schedule.failures == 0
    assert 0.5 <= step(schedule, 505.0, [None])[0] <= 1.0  # ... and the next failure starts over


def test_the_same_seed_gives_the_same_retries() -> None:
    """The jitter comes only from the injected Random: tests (and a replay) are exact."""
    first = step(ReportSchedule(1.0, 60.0, random.Random(42)), 0.0, [None] * 10)
    again = step(ReportSchedule(1.0, 60.0, random.Random(42)), 0.0, [None] * 10)
    other = step(ReportSchedule(1.0, 60.0, random.Random(43)), 0.0, [None] * 10)
    assert first == again != other


def test_agents_that_lost_the_master_together_come_back_spread_out() -> None:
    """A master restart: 50 agents fail at the same moment and retry; their fifth retries
    (ceiling 16 s) land over several seconds, not in one burst."""
    rng = random.Random(1)
    fifth = [sum(step(ReportSchedule(1.0, 60.0, random.Random(rng.random())), 0.0, [None] * 5))
             for _ in range(50)]
    assert max(fifth) - min(fifth) > 5.0


@given(st.lists(st.one_of(st.none(), st.floats(0.1, 300)), max_size=100),
       st.floats(0.01, 5), st.floats(5, 600), st.integers(0, 2**32))
def test_no_wait_is_longer_than_the_cap_or_the_masters_interval(
        answers: list[float | None], low: float, high: float, seed: int) -> None:
    schedule = ReportSchedule(low, high, random.Random(seed))
    for answer, gap in zip(answers, step(schedule, 1000.0, answers), strict=True):
        if answer is None:
            assert 0 < gap <= high * (1 + 1e-9)
        else:
            assert abs(gap - answer) < 1e-6
