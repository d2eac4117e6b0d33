"""The virtual-time loop: time jumps to the next timer, ties keep their scheduling order, and a
timer that does nothing leaves a simulation unchanged."""

from __future__ import annotations

import asyncio

from hypothesis import given, settings
from hypothesis import strategies as st

from sim.clock import run_virtual
from sim.config import parse_config
from sim.runner import Simulation


def test_sleep_advances_virtual_time_without_waiting():
    async def scenario() -> float:
        await asyncio.sleep(3600.0)
        return asyncio.get_running_loop().time()

    assert run_virtual(scenario()) == 3600.0


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 3), min_size=1, max_size=40))
def test_timers_due_at_one_instant_fire_in_the_order_they_were_scheduled(slots):
    """asyncio sorts its timer heap by time alone; here equal times keep scheduling order, whatever
    else is on the heap."""
    async def scenario() -> list[int]:
        loop, fired = asyncio.get_running_loop(), []
        for i, slot in enumerate(slots):
            loop.call_at(float(slot), fired.append, i)
        await asyncio.sleep(10.0)
        return fired

    assert run_virtual(scenario()) == sorted(range(len(slots)), key=lambda i: (slots[i], i))


class _ChurnThatChangesNothing(Simulation):
    def _apply(self, event) -> None:  # the churn event fires on the loop and changes no peer
        pass


def test_a_timer_that_does_nothing_leaves_a_run_unchanged():
    """Runs that differ only in churn share their trajectory until the churn starts: with the
    heap order of asyncio, merely scheduling no-op events moved a run's final accuracy."""
    raw = {"run": {"seed": 5, "duration": 30.0, "eval_every": 10.0}, "peers": {"count": 8},
           "topology": {"degree": 3}, "genesis": {"training": {"local_steps": 5}}}
    plain = Simulation(parse_config(raw), progress=False)
    plain.run()
    with_events = {**raw, "churn": {"kind": "mass", "fraction": 0.5}}  # events at 10 s and 20 s
    noop = _ChurnThatChangesNothing(parse_config(with_events), progress=False)
    assert noop.churn_events()  # the events exist and are scheduled
    noop.run()
    assert repr(noop.metrics.rows) == repr(plain.metrics.rows)  # repr: NaN (no attack measured) equals itself
