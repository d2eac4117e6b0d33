"""The collection window (`peer.collection_window`): its statistics, and censored waits that keep
a peer from locking itself into windows too short to hear its neighbours."""

from __future__ import annotations

from collections import deque

import pytest

from peer.collection_window import censored_waits, collection_window
from peer.settings import NodeSettings
from sim.clock import run_virtual
from tests.test_node import make_node, workload  # noqa: F401  (workload is a fixture)


def test_the_initial_window_holds_until_eight_waits_are_known():
    s = NodeSettings(initial_window=2.0)
    assert collection_window([0.1] * 7, s) == 2.0
    assert collection_window([0.1] * 8, s) == pytest.approx(0.1)


def test_the_window_is_the_median_plus_the_spread_times_the_iqr_clamped():
    s = NodeSettings(window_spread=2.0, min_window=0.05, max_window=30.0)
    waits = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]  # q25 0.3, median 0.5, q75 0.7
    assert collection_window(waits, s) == pytest.approx(0.5 + 2 * 0.4)
    assert collection_window([0.001] * 8, s) == 0.05
    assert collection_window([100.0] * 8, s) == 30.0


def test_each_missing_update_is_recorded_as_a_wait_of_the_whole_window():
    assert censored_waits(0.4, expected=3, arrived=1) == [0.4, 0.4]
    assert censored_waits(0.4, expected=3, arrived=3) == []
    assert censored_waits(0.4, expected=3, arrived=5) == []


def feedback(censor: bool, delay: float = 1.3, rounds: int = 60) -> float:
    """A peer whose history says 0.1 to 0.35 s (as the trapped peer's did) while two of its three
    expected updates now take `delay` and one still comes at once."""
    s = NodeSettings()
    waits: deque[float] = deque([0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.1, 0.2], maxlen=s.window_history)
    for _ in range(rounds):
        window = collection_window(waits, s)
        waits.append(0.1)
        if delay <= window:
            waits.extend([delay] * 2)
        elif censor:
            waits.extend(censored_waits(window, expected=3, arrived=1))
    return collection_window(waits, s)


def test_a_window_that_keeps_closing_short_grows_until_the_updates_come_within_it():
    assert feedback(censor=True) >= 1.3
    assert feedback(censor=False) < 0.2  # what recording arrivals alone did: locked in


@pytest.mark.parametrize("window", [0.5, 0.1, 0.3, 0.7, 1.1, 2.3])
def test_a_node_whose_neighbour_stays_silent_records_its_window(workload, window):  # noqa: F811
    """Every time: a short close is told by the count, not by `now - started >= window`, which the
    float deadline `started + window` missed by a last bit about half of the time."""
    node = make_node(workload, settings=NodeSettings(initial_window=window))
    run_virtual(node.run(rounds=8))
    assert list(node._delays) == [pytest.approx(window)] * 8  # one expected update a round, none came
