import numpy as np
import pytest

from topology import graphs
from topology.graphs import GraphError
from topology.mixing import (
    effective_gap,
    is_doubly_stochastic,
    is_symmetric,
    matching_matrix,
    metropolis_hastings,
    one_peer_exponential_matrix,
    random_matching,
    ring_spectral_gap,
    second_eigenvalue_modulus,
    spectral_gap,
    uniform_neighbour,
)

ALL = [
    graphs.ring(12), graphs.torus(16), graphs.complete(7), graphs.star(9), graphs.regular(20, 4, seed=1),
    graphs.erdos_renyi(30, 0.3, seed=2), graphs.watts_strogatz(25, 4, 0.2, seed=3),
    graphs.barabasi_albert(30, 2, seed=4), graphs.exponential(16), graphs.regular(200, 6, seed=5),
]


@pytest.mark.parametrize("graph", ALL, ids=lambda g: g.name)
def test_metropolis_hastings_is_symmetric_and_doubly_stochastic(graph):
    w = metropolis_hastings(graph)
    assert is_symmetric(w) and is_doubly_stochastic(w)
    assert graph.is_connected()
    assert 0 < spectral_gap(w) <= 1 + 1e-9


@pytest.mark.parametrize("n", [5, 12, 100, 257])
def test_ring_gap_matches_the_closed_form(n):
    assert spectral_gap(metropolis_hastings(graphs.ring(n))) == pytest.approx(ring_spectral_gap(n), abs=1e-9)


def test_effective_gap_after_q_steps():
    w = metropolis_hastings(graphs.ring(50))
    lam = second_eigenvalue_modulus(w)
    assert effective_gap(w, 4) == pytest.approx(1 - lam**4)
    assert effective_gap(w, 4) > spectral_gap(w)


def test_uniform_neighbour_weights():
    w = uniform_neighbour(graphs.star(5))
    assert np.allclose(np.asarray(w.sum(axis=1)).ravel(), 1)
    assert not is_doubly_stochastic(w)
    assert is_doubly_stochastic(uniform_neighbour(graphs.ring(6)))  # regular: doubly stochastic


def test_time_varying_schemes_are_doubly_stochastic():
    rng = np.random.default_rng(0)
    pairs = random_matching(11, rng)
    assert len({i for p in pairs for i in p}) == 10
    assert is_doubly_stochastic(matching_matrix(11, pairs)) and is_symmetric(matching_matrix(11, pairs))
    for t in range(5):
        assert is_doubly_stochastic(one_peer_exponential_matrix(16, t))
    # after log2(n) rounds of one-peer exponential gossip, 16 nodes reach exact consensus
    product = np.eye(16)
    for t in range(4):
        product = one_peer_exponential_matrix(16, t).toarray() @ product
    assert np.allclose(product, 1 / 16)


def test_structure_of_named_graphs():
    assert graphs.ring(6).neighbours(0) == (1, 5)
    assert set(graphs.torus(9).degrees()) == {4}
    assert graphs.star(5).degree(0) == 4
    assert graphs.exponential(8).neighbours(0) == (1, 2, 4, 6, 7)
    assert set(graphs.regular(50, 4, seed=0).degrees()) == {4}


def test_seeded_generators_are_reproducible():
    assert graphs.regular(40, 4, seed=7) == graphs.regular(40, 4, seed=7)
    assert graphs.regular(40, 4, seed=7) != graphs.regular(40, 4, seed=8)


def test_bad_parameters_fail_clearly():
    with pytest.raises(GraphError, match="disconnected"):
        graphs.erdos_renyi(100, 0.001, seed=0)
    with pytest.raises(GraphError, match="n·k even"):
        graphs.regular(5, 3)
    with pytest.raises(GraphError, match="side"):
        graphs.torus(10)
    with pytest.raises(GraphError, match="unknown graph 'mesh'"):
        graphs.build("mesh", 10)


def test_from_file_edge_list_and_csv(tmp_path):
    edges = tmp_path / "g.txt"
    edges.write_text("# a triangle and a tail\n0 1\n1 2\n2 0\n2 3\n")
    g = graphs.from_file(edges)
    assert g.n == 4 and g.neighbours(2) == (0, 1, 3)
    matrix = tmp_path / "m.csv"
    matrix.write_text("0,1,1\n1,0,0\n1,0,0\n")
    assert graphs.from_file(matrix).neighbours(0) == (1, 2)
    bad = tmp_path / "bad.txt"
    bad.write_text("0 1\n1 x\n")
    with pytest.raises(GraphError, match=r"bad.txt:2"):
        graphs.from_file(bad)
