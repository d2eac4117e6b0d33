"""All-pairs geometry from one Gram matrix: one `[m,d] x [d,m]` product, never a loop over pairs.

Rows are centred on the first row before the product, so squared distances are computed
from small numbers and stay accurate when the models are already close to each other
(|x_i|^2 + |x_j|^2 - 2<x_i,x_j> loses every digit when |x_i - x_j| << |x_i| in float32).
"""

from __future__ import annotations

import torch


def squared_distances(x: torch.Tensor) -> torch.Tensor:
    """`[m, m]` squared Euclidean distances between the rows of `x`."""
    return distances_around(x[0], x[1:])


def distances_around(own: torch.Tensor, others: torch.Tensor) -> torch.Tensor:
    """Squared distances among the candidates [own] + others, centred on `own` without stacking them:
    one subtraction pass and one Gram matrix of the differences (own's difference is zero)."""
    gram = centred_gram(own, others)
    norms = gram.diagonal()
    inner = norms[:, None] + norms[None, :] - 2 * gram
    n = others.shape[0]
    out = torch.empty(n + 1, n + 1, dtype=gram.dtype)
    out[0, 0] = 0
    out[0, 1:] = norms
    out[1:, 0] = norms
    out[1:, 1:] = inner
    return out.clamp_(min=0).fill_diagonal_(0)


def centred_gram(own: torch.Tensor, others: torch.Tensor, chunk_bytes: int = 1 << 20) -> torch.Tensor:
    """(others - own)(others - own)ᵀ, one column block at a time: each centred block is still in
    cache when the product reads it, so the whole costs about one pass over `others`, like the
    plain Gram product, instead of a write and a re-read of an [n, d] temporary."""
    n, d = others.shape
    if others.numel() * others.element_size() <= 4 * chunk_bytes:  # small: one block, fewest calls
        block = others - own
        return block @ block.T
    step = max(1024, chunk_bytes // (others.element_size() * max(n, 1)))
    gram = torch.zeros(n, n, dtype=others.dtype)
    for start in range(0, d, step):
        block = others[:, start:start + step] - own[start:start + step]
        gram.addmm_(block, block.T)
    return gram


def cosine_similarities(x: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """`[m, m]` cosine similarities between the rows of `x` (zero rows are similar to nothing)."""
    gram = x @ x.T
    norms = gram.diagonal().clamp(min=0).sqrt()
    return gram / (norms[:, None] * norms[None, :]).clamp(min=eps)
