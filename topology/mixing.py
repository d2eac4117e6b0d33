"""Mixing matrices and their spectral gap: how fast gossip averaging contracts disagreement.

For a symmetric doubly stochastic W, consensus error shrinks like |λ₂(W)|^t, so the spectral
gap 1 - |λ₂| is the figure of merit of a topology; Q gossip steps per round (DFedSAM-MGS)
give an effective gap 1 - |λ₂|^Q.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from topology.graphs import Graph


def _sparse(graph: Graph, weights_of: Callable[[int, int], float]) -> sp.csr_matrix:
    rows, cols, vals = [], [], []
    degrees = graph.degrees()
    for i, nbrs in enumerate(graph.adjacency):
        for j in nbrs:
            rows.append(i)
            cols.append(j)
            vals.append(weights_of(degrees[i], degrees[j]))
    w = sp.csr_matrix((vals, (rows, cols)), shape=(graph.n, graph.n))
    diagonal = 1.0 - np.asarray(w.sum(axis=1)).ravel()
    return (w + sp.diags(diagonal)).tocsr()


def metropolis_hastings(graph: Graph) -> sp.csr_matrix:
    """W_ij = 1 / (1 + max(d_i, d_j)) on edges, W_ii = 1 - Σ_j W_ij: symmetric, doubly stochastic."""
    return _sparse(graph, lambda di, dj: 1.0 / (1.0 + max(di, dj)))


def uniform_neighbour(graph: Graph) -> sp.csr_matrix:
    """W_ij = 1 / (d_i + 1) for j in N(i) ∪ {i}: row stochastic; doubly stochastic only when regular."""
    return _sparse(graph, lambda di, dj: 1.0 / (di + 1.0))


def is_symmetric(w: sp.spmatrix, tol: float = 1e-12) -> bool:
    return abs(w - w.T).max() <= tol if w.nnz else True


def is_doubly_stochastic(w: sp.spmatrix, tol: float = 1e-9) -> bool:
    if w.nnz and w.min() < -tol:
        return False
    rows = np.asarray(w.sum(axis=1)).ravel()
    cols = np.asarray(w.sum(axis=0)).ravel()
    return bool(np.allclose(rows, 1, atol=tol) and np.allclose(cols, 1, atol=tol))


def second_eigenvalue_modulus(w: sp.spmatrix) -> float:
    """|λ₂|: the largest eigenvalue modulus after the trivial λ₁ = 1."""
    n = w.shape[0]
    if n <= 64:  # small: dense eigenvalues are exact and fast
        values = np.linalg.eigvals(w.toarray()) if not is_symmetric(w) else np.linalg.eigvalsh(w.toarray())
        moduli = np.sort(np.abs(values))[::-1]
        return float(moduli[1]) if n > 1 else 0.0
    if is_symmetric(w):
        values = spla.eigsh(w.astype(np.float64), k=3, which="LM", return_eigenvectors=False, tol=1e-10)
    else:
        values = spla.eigs(w.astype(np.float64), k=3, which="LM", return_eigenvectors=False, tol=1e-10)
    moduli = np.sort(np.abs(values))[::-1]
    return float(moduli[1])


def spectral_gap(w: sp.spmatrix) -> float:
    return 1.0 - second_eigenvalue_modulus(w)


def effective_gap(w: sp.spmatrix, steps: int) -> float:
    """1 - |λ₂|^Q after Q gossip steps per round."""
    if steps < 1:
        raise ValueError("steps must be >= 1")
    return 1.0 - second_eigenvalue_modulus(w) ** steps


def ring_spectral_gap(n: int) -> float:
    """Closed form for Metropolis–Hastings on a ring (all degrees 2, W = I/3 + (P + Pᵀ)/3):
    λ_k = (1 + 2cos(2πk/n)) / 3, so |λ₂| = max over k ≠ 0 of |λ_k|."""
    k = np.arange(1, n)
    return 1.0 - float(np.max(np.abs((1 + 2 * np.cos(2 * np.pi * k / n)) / 3)))


def random_matching(n: int, rng: np.random.Generator) -> list[tuple[int, int]]:
    """A random perfect (or near-perfect) matching: this round, each matched pair averages."""
    order = rng.permutation(n)
    return [(int(order[i]), int(order[i + 1])) for i in range(0, n - 1, 2)]


def matching_matrix(n: int, pairs: list[tuple[int, int]]) -> sp.csr_matrix:
    """W = I with each matched pair's 2x2 block replaced by [[½, ½], [½, ½]]: symmetric, doubly stochastic."""
    w = sp.lil_matrix((n, n))
    w.setdiag(1.0)
    for i, j in pairs:
        w[i, i] = w[j, j] = w[i, j] = w[j, i] = 0.5
    return w.tocsr()


def one_peer_exponential_partner(node: int, n: int, round_index: int) -> int:
    """One-peer exponential graph (Ying et al. 2021): at round t, i averages with i + 2^(t mod log₂ n)."""
    hops = max(1, (n - 1).bit_length())
    return (node + (1 << (round_index % hops))) % n


def one_peer_exponential_matrix(n: int, round_index: int) -> sp.csr_matrix:
    """W_t = (I + P_t)/2 with P_t the shift by 2^(t mod log₂ n): doubly stochastic (not symmetric)."""
    rows = np.arange(n)
    cols = np.array([one_peer_exponential_partner(i, n, round_index) for i in rows])
    return (sp.identity(n, format="csr") * 0.5 + sp.csr_matrix((np.full(n, 0.5), (rows, cols)), shape=(n, n))).tocsr()
