"""Krum and Multi-Krum (Blanchard, El Mhamdi, Guerraoui, Stainer, NeurIPS 2017).

Candidates X = [own] + others, N = n + 1. For each i, score(i) = Σ of the squared distances
to its N - f - 2 nearest other candidates. Krum returns the candidate with the lowest score;
Multi-Krum averages the m lowest-scoring ones. The guarantee needs N > 2f + 2; with fewer
candidates the neighbourhood is clamped to at least one, and the rule still runs.
"""

from __future__ import annotations

import torch

from robust.mean import mix_with_own
from robust.meta import Meta
from robust.pairwise import distances_around


def krum_scores(own: torch.Tensor, others: torch.Tensor, f: int) -> torch.Tensor:
    """Scores of the candidates [own] + others (row 0 is own)."""
    n_candidates = others.shape[0] + 1
    k = min(max(1, n_candidates - f - 2), n_candidates - 1)
    distances = distances_around(own, others)
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
        scores = krum_scores(own, others, self.f)
        m = min(self.m if self.m is not None else max(1, scores.shape[0] - self.f), scores.shape[0])
        chosen = torch.topk(scores, m, largest=False).indices
        if m == 1:
            return own if int(chosen[0]) == 0 else others[int(chosen[0]) - 1]
        weights = torch.zeros(scores.shape[0], dtype=own.dtype)
        weights[chosen] = 1.0
        return mix_with_own(own, float(weights[0]), others, weights[1:])  # no gather of the chosen rows


class Krum(MultiKrum):
    def __init__(self, f: int = 1) -> None:
        super().__init__(f=f, m=1)
