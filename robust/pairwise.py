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
    centred = others - own
    gram = centred @ centred.T
    norms = gram.diagonal()
    inner = norms[:, None] + norms[None, :] - 2 * gram
    n = others.shape[0]
    out = torch.empty(n + 1, n + 1, dtype=gram.dtype)
    out[0, 0] = 0
    out[0, 1:] = norms
    out[1:, 0] = norms
    out[1:, 1:] = inner
    return out.clamp_(min=0).fill_diagonal_(0)


def cosine_similarities(x: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """`[m, m]` cosine similarities between the rows of `x` (zero rows are similar to nothing)."""
    gram = x @ x.T
    norms = gram.diagonal().clamp(min=0).sqrt()
    return gram / (norms[:, None] * norms[None, :]).clamp(min=eps)
