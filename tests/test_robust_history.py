"""HistoryMatrix against a dict-of-tensors reference, under any sequence of operations; its
checkpoint state round-trips exactly and refuses what does not fit."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from robust.history import HistoryMatrix

KEYS = [bytes([i]) * 4 for i in range(6)]
operation = st.one_of(
    st.tuples(st.just("add"), st.lists(st.sampled_from(KEYS), min_size=1, max_size=4, unique=True)),
    st.tuples(st.just("set"), st.sampled_from(KEYS)),
    st.tuples(st.just("remove"), st.sampled_from(KEYS)),
)


@given(st.lists(operation, max_size=40), st.integers(0, 2**16))
def test_matches_a_dict_of_tensors(operations, seed):
    generator = torch.Generator().manual_seed(seed)
    matrix, reference = HistoryMatrix(initial_capacity=2), {}
    for op, arg in operations:
        if op == "add":
            own, others = torch.randn(3, generator=generator), torch.randn(len(arg), 3, generator=generator)
            matrix.add_pulls(arg, others, own)
            for key, row in zip(arg, others, strict=True):
                reference[key] = reference.get(key, torch.zeros(3)) + (row - own)
        elif op == "set":
            vector = torch.randn(3, generator=generator)
            matrix.set(arg, vector)
            reference[arg] = vector.clone()
        elif arg in reference:
            matrix.remove(arg)
            del reference[arg]
    assert sorted(matrix.keys()) == sorted(reference) and len(matrix) == len(reference)
    for row, key in enumerate(matrix.keys()):  # rows are dense and in key order
        assert torch.allclose(matrix.matrix()[row], reference[key], atol=1e-5)
    if reference:
        keys = list(reference)
        assert torch.allclose(matrix.select(keys), torch.stack([reference[k] for k in keys]), atol=1e-5)


def test_vectors_of_another_length_are_refused():
    matrix = HistoryMatrix()
    matrix.set(b"a", torch.zeros(3))
    try:
        matrix.set(b"b", torch.zeros(4))
    except ValueError as exc:
        assert "3 values" in str(exc)
    else:
        raise AssertionError("expected a ValueError")


def test_pulls_in_column_blocks_are_exactly_the_whole_update():
    """Wide enough for three cache blocks: blocking changes the order of work, never a value."""
    generator = torch.Generator().manual_seed(0)
    keys = [b"a", b"b"]
    d = 600_000  # block_columns gives 262 144 columns for two float32 rows
    start = torch.randn(2, d, generator=generator)
    own, others = torch.randn(d, generator=generator), torch.randn(2, d, generator=generator)
    matrix = HistoryMatrix()
    for key, row in zip(keys, start, strict=True):
        matrix.set(key, row)
    matrix.add_pulls(keys, others, own)
    assert torch.equal(matrix.matrix(), (start + others) - own)
    assert matrix.rows_of([b"b", b"a"]) == [1, 0]


@given(st.lists(operation, max_size=30), st.integers(0, 2**16))
def test_the_checkpoint_state_rebuilds_the_same_rows_in_the_same_order(operations, seed):
    generator = torch.Generator().manual_seed(seed)
    matrix = HistoryMatrix(initial_capacity=2)
    for op, arg in operations:
        if op == "add":
            matrix.add_pulls(arg, torch.randn(len(arg), 3, generator=generator), torch.randn(3, generator=generator))
        elif op == "set":
            matrix.set(arg, torch.randn(3, generator=generator))
        elif arg in matrix:
            matrix.remove(arg)
    restored = HistoryMatrix.from_state(*matrix.state(), width=3)
    assert restored.keys() == matrix.keys()
    assert torch.equal(restored.matrix(), matrix.matrix()) if len(matrix) else len(restored) == 0


@pytest.mark.parametrize(("tensors", "state", "error"), [
    ({"histories": torch.zeros(2, 3)}, {"keys": ["aa"]}, "shape"),
    ({"histories": torch.zeros(1, 4)}, {"keys": ["aa"]}, "shape"),
    ({"histories": torch.full((1, 3), float("nan"))}, {"keys": ["aa"]}, "non-finite"),
    ({"histories": torch.zeros(2, 3)}, {"keys": ["aa", "aa"]}, "twice"),
    ({"histories": torch.zeros(1, 3)}, {"keys": ["not hex"]}, "keys"),
    ({"histories": torch.zeros(1, 3)}, {"keys": "aa"}, "keys"),
    ({}, {"keys": []}, "rows"),
])
def test_a_checkpoint_state_that_does_not_fit_is_refused(tensors, state, error):
    with pytest.raises(ValueError, match=error):
        HistoryMatrix.from_state(tensors, state, width=3)
