"""Coordinate-wise rules: median and trimmed mean (Yin, Chen, Ramchandran, Bartlett, ICML 2018).

Both sort the candidates [own] + others per coordinate. With fewer than half of them
arbitrary, the median stays inside the range of the honest values at every coordinate;
so does the trimmed mean when at most f values are arbitrary.
"""

from __future__ import annotations

import torch

from robust.meta import Meta
from robust.sorting import sort_candidates


def coordinate_median(candidates: torch.Tensor) -> torch.Tensor:
    """The median over the candidates axis (-2) of `[..., m, d]`; for an even count, the mean of
    the two middle values (torch.median takes the lower one, which biases a pair to its minimum)."""
    ordered = sort_candidates(candidates)  # a sorting network: same values, faster
    count = ordered.shape[-2]
    return (ordered[..., (count - 1) // 2, :] + ordered[..., count // 2, :]) / 2


class Median:
    """x'_k = median_i x_ik; for an even count, the mean of the two middle values."""

    def __call__(self, own: torch.Tensor, others: torch.Tensor, meta: Meta) -> torch.Tensor:
        if others.shape[0] == 0:
            return own
        return self.combine(torch.cat([own[None], others]))

    def combine(self, candidates: torch.Tensor) -> torch.Tensor:
        """Over the candidates axis (-2) of `[..., m, d]`: many peers' received sets at once."""
        return coordinate_median(candidates)


class TrimmedMean:
    """Drop the f largest and f smallest values per coordinate, average the rest.

    With N candidates and 2f >= N, f is lowered to (N - 1) // 2 so at least one value remains.
    """

    def __init__(self, f: int = 1) -> None:
        if f < 0:
            raise ValueError("f must be >= 0")
        self.f = f

    def __call__(self, own: torch.Tensor, others: torch.Tensor, meta: Meta) -> torch.Tensor:
        if others.shape[0] == 0:
            return own
        return self.combine(torch.cat([own[None], others]))

    def combine(self, candidates: torch.Tensor) -> torch.Tensor:
        """Over the candidates axis (-2) of `[..., m, d]`: many peers' received sets at once."""
        ordered = sort_candidates(candidates)  # a sorting network: same values, faster
        count = ordered.shape[-2]
        f = min(self.f, (count - 1) // 2)
        return ordered[..., f:count - f, :].mean(dim=-2)
