"""Each rule on small cases computed by hand."""

import pytest
import torch

from robust import Meta, make
from robust.pairwise import SLICE_COLUMNS, centred_gram, cosine_similarities, distances_around, gram

T = torch.tensor


def test_mean_and_weighted_mean():
    own, others = T([0.0, 0.0]), T([[3.0, 0.0], [0.0, 6.0]])
    assert torch.allclose(make("mean")(own, others, Meta()), T([1.0, 2.0]))
    weighted = make("mean")(own, others, Meta(weights=T([1.0, 0.0]), own_weight=3.0))
    assert torch.allclose(weighted, T([0.75, 0.0]))


def test_metropolis_weights():
    # own degree 2, neighbour degrees 1 and 3 → w = 1/3, 1/4; self 1 - 7/12 = 5/12
    own, others = T([12.0]), T([[0.0], [24.0]])
    out = make("metropolis")(own, others, Meta(own_degree=2, degrees=T([1.0, 3.0])))
    assert torch.allclose(out, T([12 * 5 / 12 + 24 / 4]))


def test_staleness_mean_discounts_old_models_and_is_the_mean_when_all_are_fresh():
    own, others = T([0.0]), T([[1.0], [3.0]])
    out = make("staleness_mean", decay=1.0)(own, others, Meta(staleness=T([0.0, 2.0])))
    assert torch.allclose(out, T([(0 + 1 + 3 / 3) / (1 + 1 + 1 / 3)]))  # weights 1, 1, (1 + 2)^-1
    fresh = make("staleness_mean")(own, others, Meta(staleness=T([0.0, 0.0])))
    assert torch.allclose(fresh, make("mean")(own, others, Meta()))
    assert torch.allclose(make("staleness_mean", decay=0.0)(own, others, Meta(staleness=T([5.0, 9.0]))), fresh)
    with pytest.raises(ValueError, match="decay"):
        make("staleness_mean", decay=-1.0)
    with pytest.raises(ValueError, match="staleness"):
        make("staleness_mean")(own, others, Meta(staleness=T([1.0])))


def test_pairwise_geometry_matches_the_definition():
    x = torch.randn(6, 50, dtype=torch.float64) + 1000.0  # far from the origin: centring keeps precision
    expected = torch.cdist(x, x) ** 2
    assert torch.allclose(torch.from_numpy(distances_around(x[0], x[1:])), expected, atol=1e-6)
    cs = cosine_similarities(x)
    assert abs(cs[1, 2] - float(torch.nn.functional.cosine_similarity(x[1], x[2], dim=0))) < 1e-12


@pytest.mark.parametrize("rows", [1, 8, 17])
@pytest.mark.parametrize("columns", [5, 2 * SLICE_COLUMNS, 3 * SLICE_COLUMNS + 7])
def test_sliced_gram_equals_the_plain_product(rows, columns):
    x = torch.randn(rows, columns, dtype=torch.float64)
    assert torch.allclose(gram(x), x @ x.T)
    assert torch.allclose(gram(x.T.contiguous().T), x @ x.T)  # column-major input
    own = torch.randn(columns, dtype=torch.float64)
    assert torch.allclose(centred_gram(own, x, chunk_bytes=1 << 16), (x - own) @ (x - own).T)


def test_krum_picks_the_most_central_candidate():
    own = T([0.0])
    others = T([[0.1], [-0.1], [0.2], [100.0]])
    # f = 1: N = 5, each scored over its N - f - 2 = 2 nearest
    assert torch.allclose(make("krum", f=1)(own, others, Meta()), T([0.0]))
    multi = make("multikrum", f=1, m=3)(own, others, Meta())
    assert torch.allclose(multi, T([(0.0 + 0.1 - 0.1) / 3]))


def test_median_even_and_odd():
    own = T([1.0, 10.0])
    assert torch.allclose(make("median")(own, T([[2.0, 20.0], [9.0, -5.0]]), Meta()), T([2.0, 10.0]))
    assert torch.allclose(make("median")(own, T([[3.0, 0.0]]), Meta()), T([2.0, 5.0]))


def test_trimmed_mean_drops_f_from_each_side():
    own = T([1.0])
    others = T([[2.0], [3.0], [100.0], [-100.0]])
    assert torch.allclose(make("trimmed_mean", f=1)(own, others, Meta()), T([2.0]))
    # 2f >= N: f is lowered so something remains
    assert torch.allclose(make("trimmed_mean", f=5)(own, others, Meta()), T([2.0]))


def test_geometric_median_of_a_symmetric_cross_and_one_outlier():
    pts = T([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]])
    out = make("geometric_median", iterations=100)(T([0.0, 0.0]), pts, Meta())
    assert torch.allclose(out, T([0.0, 0.0]), atol=1e-5)
    out = make("geometric_median", iterations=200)(T([0.0, 0.0]), torch.cat([pts, T([[1e6, 1e6]])]), Meta())
    assert float(out.norm()) < 1.0  # the mean would be at 1.7e5


def test_centered_clipping_moves_at_most_tau_per_candidate():
    own = T([0.0, 0.0])
    others = T([[1000.0, 0.0]])
    out = make("centered_clipping", tau=1.0, iterations=1)(own, others, Meta())
    assert torch.allclose(out, T([0.5, 0.0]))  # (0 + clip(1000 → 1)) / 2
    close = make("centered_clipping", tau=10.0, iterations=1)(own, T([[2.0, 0.0]]), Meta())
    assert torch.allclose(close, T([1.0, 0.0]))  # within τ: the plain mean
