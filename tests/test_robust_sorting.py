"""The sorting network gives exactly what `torch.sort` gives, ties and slices included."""

from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from robust.sorting import comparators, sort_candidates, sorted_rows


@settings(max_examples=60, deadline=None)
@given(m=st.integers(1, 40), batch=st.integers(1, 3), d=st.integers(1, 300), ties=st.booleans(),
       seed=st.integers(0, 2**31 - 1))
def test_the_network_sorts_like_torch_sort(m, batch, d, ties, seed):
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, m, d, generator=generator)
    if ties:
        x = x.round()
    assert torch.equal(torch.stack(sorted_rows(x), dim=-2), x.sort(dim=-2).values)
    assert torch.equal(sort_candidates(x), x.sort(dim=-2).values)


def test_a_slice_boundary_changes_nothing():
    x = torch.randn(300, 5, 5000)  # 300 sets: slices of 1024 coordinates, the last one partial
    assert torch.equal(sort_candidates(x), x.sort(dim=-2).values)


def test_batchers_network_is_small():
    assert [len(comparators(m)) for m in (1, 2, 3, 4, 5, 8, 16)] == [0, 1, 3, 5, 9, 19, 63]
