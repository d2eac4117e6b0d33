"""A frame's link draws depend on which frame it is, not on when it was sent."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from gossip.transport.link_draws import LinkDraws, uniform

WORD = st.integers(min_value=0, max_value=2**64 - 1)


@given(WORD, st.lists(WORD, max_size=5))
def test_a_draw_is_in_the_unit_interval_and_a_function_of_its_inputs(seed, words):
    u = uniform(seed, *words)
    assert 0.0 <= u < 1.0
    assert uniform(seed, *words) == u


def test_frames_get_the_same_draws_in_any_sending_order():
    links = [(0, 1), (1, 0), (0, 2), (2, 1)] * 5
    in_order, shuffled = LinkDraws(7), LinkDraws(7)
    first = {}
    for number, link in enumerate(links):
        first[number] = (link, in_order.next_frame(*link))
    # the same frames, but the links interleaved differently: each link's own order is kept
    order = sorted(range(len(links)), key=lambda n: (links[n][1], links[n][0], n))
    for n in order:
        link, draws = first[n]
        assert shuffled.next_frame(*link) == draws


def test_draws_look_uniform_and_independent_between_links_and_purposes():
    draws = LinkDraws(3)
    samples = np.array([draws.next_frame(source, target) for source in range(20) for target in range(20)
                        for _ in range(10)])
    for column in samples.T:  # loss and jitter: mean 1/2, variance 1/12
        assert abs(column.mean() - 0.5) < 0.03 and abs(column.var() - 1 / 12) < 0.01
    assert abs(np.corrcoef(samples.T)[0, 1]) < 0.05
    assert LinkDraws(4).next_frame(0, 1) != LinkDraws(3).next_frame(0, 1)  # the seed matters
