"""Krum and Multi-Krum (Blanchard, El Mhamdi, Guerraoui, Stainer, NeurIPS 2017).

Candidates X = [own] + others, N = n + 1. For each i, score(i) = Σ of the squared distances
to its N - f - 2 nearest other candidates. Krum returns the candidate with the lowest score;
Multi-Krum averages the m lowest-scoring ones. The guarantee needs N > 2f + 2; with fewer
candidates the neighbourhood is clamped to at least one, and the rule still runs.
"""

from __future__ import annotations

import numpy as np
import torch

from robust.mean import mix_with_own
from robust.meta import Meta
from robust.pairwise import distances_around


def krum_scores(own: torch.Tensor, others: torch.Tensor, f: int) -> np.ndarray:
    """Scores of the candidates [own] + others (row 0 is own)."""
    n_candidates = others.shape[0] + 1
    k = min(max(1, n_candidates - f - 2), n_candidates - 1)
    distances = distances_around(own, others)
    np.fill_diagonal(distances, np.inf)
    return np.partition(distances, k - 1, axis=1)[:, :k].sum(axis=1)


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
        m = min(self.m if self.m is not None else max(1, len(scores) - self.f), len(scores))
        chosen = np.argsort(scores, kind="stable")[:m]  # ties go to the earlier candidate, own first
        if m == 1:
            return own if chosen[0] == 0 else others[int(chosen[0]) - 1]
        weights = np.zeros(len(scores), np.float32)
        weights[chosen] = 1.0
        return mix_with_own(own, float(weights[0]), others, torch.from_numpy(weights[1:]))  # no gather


    def combine(self, candidates: torch.Tensor) -> torch.Tensor:
        """Over the candidates axis (-2) of `[..., m, d]` (the first is the own model): the scores of
        every set from one batched Gram product of the sets centred on their first candidate."""
        batch = candidates.reshape(-1, *candidates.shape[-2:])
        count = batch.shape[1]
        if count == 1:
            return candidates[..., 0, :]
        diffs = batch - batch[:, :1]
        products = (diffs @ diffs.transpose(1, 2)).double()
        products = (products + products.transpose(1, 2)) / 2  # exact ties break by index, as in `krum_scores`
        norms = products.diagonal(dim1=1, dim2=2)
        distances = (norms[:, :, None] + norms[:, None, :] - 2 * products).clamp_(min=0)
        distances.diagonal(dim1=1, dim2=2).fill_(float("inf"))
        k = min(max(1, count - self.f - 2), count - 1)
        scores = distances.topk(k, dim=2, largest=False).values.sum(dim=2)
        m = min(self.m if self.m is not None else max(1, count - self.f), count)
        chosen = scores.argsort(dim=1, stable=True)[:, :m]  # ties go to the earlier candidate, own first
        picked = batch.gather(1, chosen[:, :, None].expand(-1, -1, batch.shape[2]))
        return picked.mean(dim=1).reshape(*candidates.shape[:-2], candidates.shape[-1])


class Krum(MultiKrum):
    def __init__(self, f: int = 1) -> None:
        super().__init__(f=f, m=1)
