"""All-pairs geometry from one Gram matrix: one `[m,d] x [d,m]` product, never a loop over pairs.

Rows are centred on the first row before the product, so squared distances are computed
from small numbers and stay accurate when the models are already close to each other
(|x_i|^2 + |x_j|^2 - 2<x_i,x_j> loses every digit when |x_i - x_j| << |x_i| in float32).

The product runs in torch over [m, d]; what follows works on the small [m, m] result in
numpy float64, where a call costs a few microseconds against about ten for torch (at m = 8,
d = 1e5 torch's small operations had cost a third of the Gram product itself).
"""

from __future__ import annotations

import numpy as np
import torch


def distances_around(own: torch.Tensor, others: torch.Tensor) -> np.ndarray:
    """Squared distances among the candidates [own] + others, centred on `own` without stacking them:
    one subtraction pass and one Gram matrix of the differences (own's difference is zero)."""
    products = centred_gram(own, others).double().numpy()
    products = (products + products.T) / 2  # exactly symmetric: d(i, j) == d(j, i), so ties are exact
    norms = np.diag(products)
    out = np.zeros((len(norms) + 1, len(norms) + 1))
    out[0, 1:] = out[1:, 0] = norms
    out[1:, 1:] = norms[:, None] + norms[None, :] - 2 * products
    np.clip(out, 0, None, out=out)
    np.fill_diagonal(out, 0)
    return out


SLICE_COLUMNS = 16_384
SLICED_MAX_ROWS = 16


def gram(x: torch.Tensor) -> torch.Tensor:
    """x xᵀ for `[n, d]` rows. With few rows (n <= 16) one `mm` of this tall-skinny shape leaves
    a core idle; cutting d into 16 384-column slices and multiplying them as one batch is
    1.5-2.8x faster at n = 8 on the bench machine (`bench/robust.py` prints both). At n = 32
    it was no faster, so more rows get one `mm`."""
    n, d = x.shape
    slices = d // SLICE_COLUMNS
    if n > SLICED_MAX_ROWS or slices < 2:
        return x @ x.T
    if x.stride(1) != 1:
        x = x.contiguous()
    width = slices * SLICE_COLUMNS
    # [slices, n, 16 384]: slice s of every row, in one view (each torch call costs microseconds)
    batch = x.as_strided((slices, n, SLICE_COLUMNS), (SLICE_COLUMNS, x.stride(0), 1))
    out = torch.bmm(batch, batch.transpose(1, 2)).sum(dim=0)
    if width < d:
        rest = x[:, width:]
        out.addmm_(rest, rest.T)
    return out


CACHE_BLOCK_BYTES = 1 << 21


def block_columns(rows: torch.Tensor, chunk_bytes: int = CACHE_BLOCK_BYTES) -> int:
    """How many columns of `rows` ([n, d]) make a block of about `chunk_bytes` (at least one
    Gram slice): small enough that a second operation on the block finds it in a core's L2.
    All d when that is at most two blocks: the whole then fits in the two cores' caches, and
    each torch call costs about 5 µs with cold caches, so fewer calls are worth more."""
    n, d = max(rows.shape[0], 1), rows.shape[1]
    step = max(SLICE_COLUMNS, chunk_bytes // (rows.element_size() * n))
    return d if d <= 2 * step else step


def centred_gram(own: torch.Tensor, others: torch.Tensor, chunk_bytes: int = CACHE_BLOCK_BYTES) -> torch.Tensor:
    """(others - own)(others - own)ᵀ, one column block at a time: each centred block is still in
    cache when the product reads it, so the whole costs about one pass over `others`, like the
    plain Gram product, instead of a write and a re-read of an [n, d] temporary."""
    n, d = others.shape
    step = block_columns(others, chunk_bytes)
    if step >= d:
        return gram(others - own)
    out = torch.zeros(n, n, dtype=others.dtype)
    for start in range(0, d, step):
        out += gram(others[:, start:start + step] - own[start:start + step])
    return out


def cosine_similarities(x: torch.Tensor, eps: float = 1e-12) -> np.ndarray:
    """`[m, m]` cosine similarities between the rows of `x` (zero rows are similar to nothing)."""
    return cosines_from_products(gram(x).double().numpy(), eps)


def cosines_from_products(products: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Cosine similarities from Gram products `[..., m, m]`, each matrix on its own."""
    norms = np.sqrt(np.maximum(np.diagonal(products, axis1=-2, axis2=-1), 0))
    return products / np.maximum(norms[..., :, None] * norms[..., None, :], eps)
