"""Krum and Multi-Krum (Blanchard, El Mhamdi, Guerraoui, Stainer, NeurIPS 2017).

Candidates X = [own] + others, N = n + 1. For each i, score(i) = Σ of the squared distances
to its N - f - 2 nearest other candidates. Krum returns the candidate with the lowest score;
Multi-Krum averages the m lowest-scoring ones. The guarantee needs N > 2f + 2; with fewer
candidates the neighbourhood is clamped to at least one, and the rule still runs.
"""

from __future__ import annotations

import torch

from robust.meta import Meta
from robust.pairwise import squared_distances


def krum_scores(candidates: torch.Tensor, f: int) -> torch.Tensor:
    n_candidates = candidates.shape[0]
    k = max(1, n_candidates - f - 2)
    k = min(k, n_candidates - 1)
    distances = squared_distances(candidates)
    distances.fill_diagonal_(float("inf"))
    return distances.topk(k, dim=1, largest=False).values.sum(dim=1)


class MultiKrum:
    def __init__(self, f: int = 1, m: int | None = None) -> None:
        if f < 0:
            raise ValueError("f must be >= 0")
        if m is not None and m < 1:
            raise ValueError("m must be >= 1")
        self.f, self.m = f, m

    def __call__(self, own: torch.Tensor, others: torch.Tensor, meta: Meta) -> torch.Tensor:
        if others.shape[0] == 0:
            return own
        candidates = torch.cat([own[None], others])
        scores = krum_scores(candidates, self.f)
        m = self.m if self.m is not None else max(1, candidates.shape[0] - self.f)
        chosen = torch.topk(scores, min(m, candidates.shape[0]), largest=False).indices
        return candidates[chosen].mean(dim=0)


class Krum(MultiKrum):
    def __init__(self, f: int = 1) -> None:
        super().__init__(f=f, m=1)
