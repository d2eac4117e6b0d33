"""Invariants every rule must keep (the Aggregator contract), checked with hypothesis."""

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from robust import RULES, STATEFUL, Meta, make

SYMMETRIC = ["mean", "median", "trimmed_mean", "geometric_median", "centered_clipping", "variance_corrected"]


def _ids(n):
    return tuple(bytes([i]) * 38 for i in range(n))


stacks = st.integers(1, 9).flatmap(
    lambda n: st.integers(1, 12).flatmap(
        lambda d: arrays(np.float32, (n + 1, d), elements=st.floats(-100, 100, width=32))))


@pytest.mark.parametrize("name", sorted(RULES))
def test_zero_neighbours_returns_own(name):
    own = torch.randn(7)
    assert torch.equal(make(name)(own, torch.empty(0, 7), Meta()), own)


@pytest.mark.parametrize("name", sorted(RULES))
@given(stack=stacks)
def test_finite_in_finite_out(name, stack):
    x = torch.from_numpy(stack)
    out = make(name)(x[0], x[1:], Meta(senders=_ids(x.shape[0] - 1)))
    assert out.shape == x[0].shape
    assert bool(torch.isfinite(out).all())


@pytest.mark.parametrize("name", sorted(set(RULES) - STATEFUL))
@given(stack=stacks)
def test_stateless_rules_are_deterministic(name, stack):
    x = torch.from_numpy(stack)
    rule = make(name)
    assert torch.equal(rule(x[0], x[1:], Meta()), rule(x[0], x[1:], Meta()))


@pytest.mark.parametrize("name", SYMMETRIC)
@given(stack=stacks, seed=st.integers(0, 1000))
def test_permuting_others_changes_nothing(name, stack, seed):
    x = torch.from_numpy(stack).double()
    perm = torch.randperm(x.shape[0] - 1, generator=torch.Generator().manual_seed(seed))
    rule = make(name)
    assert torch.allclose(rule(x[0], x[1:], Meta()), rule(x[0], x[1:][perm], Meta()), atol=1e-6)


@pytest.mark.parametrize("name", ["mean", "median", "trimmed_mean"])
@given(stack=stacks, shift=st.floats(-50, 50))
def test_translation_equivariance(name, stack, shift):
    x = torch.from_numpy(stack).double()
    rule = make(name)
    assert torch.allclose(rule(x[0] + shift, x[1:] + shift, Meta()), rule(x[0], x[1:], Meta()) + shift, atol=1e-6)


@pytest.mark.parametrize("name", ["median", "trimmed_mean"])
@given(data=st.data())
def test_stays_in_the_honest_range_with_a_minority_of_outliers(name, data):
    honest = data.draw(st.integers(3, 8))
    bad = data.draw(st.integers(0, honest - 1))
    d = data.draw(st.integers(1, 6))
    good = torch.from_numpy(data.draw(arrays(np.float32, (honest, d), elements=st.floats(-10, 10, width=32))))
    evil = torch.from_numpy(data.draw(arrays(np.float32, (bad, d), elements=st.floats(-1e6, 1e6, width=32))))
    others = torch.cat([good[1:], evil])
    rule = make(name, f=bad) if name == "trimmed_mean" else make(name)
    out = rule(good[0], others, Meta())
    assert bool((out >= good.min(dim=0).values - 1e-4).all() and (out <= good.max(dim=0).values + 1e-4).all())


def test_unknown_rule_and_bad_parameters_are_clear():
    with pytest.raises(ValueError, match="unknown aggregation rule 'avg'"):
        make("avg")
    with pytest.raises(ValueError, match="bad parameters for rule 'krum'"):
        make("krum", q=1)
    with pytest.raises(ValueError, match="f must be"):
        make("trimmed_mean", f=-1)


BATCHED = sorted(name for name in set(RULES) - STATEFUL if hasattr(make(name), "combine"))


def test_the_rules_the_batched_engine_groups_have_a_batched_form():
    assert {"mean", "median", "trimmed_mean", "centered_clipping", "geometric_median", "krum", "multikrum"} \
        <= set(BATCHED)


@pytest.mark.parametrize("name", BATCHED)
@given(sets=st.integers(1, 4), n=st.integers(0, 8), d=st.integers(1, 12), seed=st.integers(0, 2**31 - 1))
def test_a_batch_of_sets_gives_what_each_set_gives_alone(name, sets, n, d, seed):
    """`combine` over [G, m, d] is what the batched engine runs for G receivers at once."""
    candidates = torch.randn(sets, n + 1, d, generator=torch.Generator().manual_seed(seed)) * 10
    rule = make(name)
    alone = torch.stack([rule(c[0], c[1:], Meta()) for c in candidates])
    assert torch.allclose(rule.combine(candidates), alone, rtol=1e-5, atol=1e-5)
