"""The newcomer budget: per source and overall token buckets, admitted identities never charged twice."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from gossip.transport.newcomers import NewcomerBudget, NewcomerLimits


def test_a_source_gets_its_burst_then_its_rate_and_others_are_not_charged_for_it():
    budget = NewcomerBudget(NewcomerLimits(per_source_burst=3, per_source_per_minute=6, overall_burst=100))
    assert [budget.admit(i, "ip-a", 0.0) for i in range(5)] == [True, True, True, False, False]
    assert budget.admit("x", "ip-b", 0.0)            # another source has its own bucket
    assert not budget.admit(10, "ip-a", 5.0)         # 6 per minute: one more after 10 s
    assert budget.admit(10, "ip-a", 10.0)
    assert budget.admit(0, "ip-a", 10.0)             # already admitted: free, even with an empty bucket
    assert not budget.admit(4, "ip-a", 10.0)         # refused before: it still has to pay


def test_the_overall_budget_bounds_many_sources():
    budget = NewcomerBudget(NewcomerLimits(per_source_burst=5, overall_burst=10, overall_per_minute=0))
    admitted = sum(budget.admit(i, f"ip-{i}", 0.0) for i in range(1000))
    assert admitted == 10


@given(events=st.lists(st.tuples(st.integers(0, 50), st.integers(0, 5), st.floats(0, 600)), max_size=200))
def test_never_more_than_burst_plus_rate_times_time(events):
    lim = NewcomerLimits(per_source_burst=4, per_source_per_minute=2, overall_burst=8, overall_per_minute=4,
                         max_sources=3)
    budget = NewcomerBudget(lim)
    events = sorted(events, key=lambda e: e[2])
    admitted = {identity for identity, source, now in events if budget.admit(identity, source, now)}
    span = (events[-1][2] - events[0][2]) if events else 0.0
    assert len(admitted) <= lim.overall_burst + lim.overall_per_minute * span / 60 + 1e-9
