"""Sorting a few candidates per coordinate with a sorting network (elementwise min and max).

The coordinate-wise rules sort `m` candidates (the own model and k received ones) for every one
of d coordinates, and in the batched engine for G receivers at once. `torch.sort` over an axis
of length 5 is dominated by per-row overhead: 16 × 5 × 10⁶ values took about a second, 30 to
45 times one batched Gram product of the same tensor. A sorting network does the same with a
fixed list of compare-exchanges, each one `torch.minimum` and one `torch.maximum` over whole
rows: Batcher's odd–even merge sort, 9 comparators for m = 5, O(m log² m) in general. Run over
slices of the coordinates small enough to stay in the CPU's cache, it took 2.3 times less time
than `torch.sort` there (`python -m bench.batched_rules`, docs/BENCHMARKS.md). The values come
out exactly as `torch.sort` orders them (min and max pick, they do not compute), so the rules'
results are unchanged bit for bit. Inputs are finite (the wire refuses NaN and Inf).
"""

from __future__ import annotations

import functools

import torch


@functools.cache
def comparators(m: int) -> tuple[tuple[int, int], ...]:
    """Batcher's odd–even merge sort for the next power of two ≥ m, without the comparators that
    touch the padding (as if padded with +inf: they would never exchange anything)."""
    n = 1
    while n < m:
        n *= 2
    pairs = []
    p = 1
    while p < n:
        k = p
        while k >= 1:
            for j in range(k % p, n - k, 2 * k):
                for i in range(min(k, n - j - k)):
                    if (i + j) // (2 * p) == (i + j + k) // (2 * p):
                        pairs.append((i + j, i + j + k))
            k //= 2
        p *= 2
    return tuple((a, b) for a, b in pairs if b < m)


def sorted_rows(candidates: torch.Tensor) -> list[torch.Tensor]:
    """The rows of `[..., m, d]` sorted per coordinate, as m tensors `[..., d]` (ascending)."""
    rows = list(candidates.unbind(dim=-2))
    for a, b in comparators(len(rows)):
        rows[a], rows[b] = torch.minimum(rows[a], rows[b]), torch.maximum(rows[a], rows[b])
    return rows


CACHE_VALUES = 1 << 18  # values per row of one slice: m rows of them stay in a CPU's L2/L3 cache


def sort_candidates(candidates: torch.Tensor) -> torch.Tensor:
    """`candidates.sort(dim=-2).values` for `[..., m, d]`, slice by slice along d."""
    m = candidates.shape[-2]
    if m <= 1:
        return candidates.clone()
    batch = candidates[..., 0, 0].numel()
    width = max(1024, CACHE_VALUES // max(1, batch))
    out = torch.empty_like(candidates)
    for start in range(0, candidates.shape[-1], width):
        part = slice(start, start + width)
        out[..., part] = torch.stack(sorted_rows(candidates[..., part]), dim=-2)
    return out
