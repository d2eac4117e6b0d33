"""Averaging rules: the (weighted) mean and Metropolis–Hastings gossip weights."""

from __future__ import annotations

import torch

from robust.meta import Meta


def weighted_average(candidates: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """sum_i w_i x_i / sum_i w_i over the rows of `candidates`."""
    weights = weights.to(candidates.dtype)
    return (weights @ candidates) / weights.sum()


def mix_with_own(own: torch.Tensor, own_weight: float, others: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """(w_own·own + Σ_j w_j x_j) / (w_own + Σ_j w_j), without stacking [own] + others (one pass over others)."""
    weights = weights.to(others.dtype)
    total = own_weight + float(weights.sum())
    return torch.addmv(own, others.T, weights / total, beta=own_weight / total)  # normalised in the same pass


class Mean:
    """x' = (w_own·own + Σ_j w_j x_j) / (w_own + Σ_j w_j); unweighted when `meta.weights` is None.

    The plain gossip-averaging step (Ormándi et al., gossip learning; D-PSGD with uniform weights).
    """

    def __call__(self, own: torch.Tensor, others: torch.Tensor, meta: Meta) -> torch.Tensor:
        if others.shape[0] == 0:
            return own
        if meta.weights is None:
            return self.combine(torch.cat([own[None], others]))
        if meta.weights.shape != (others.shape[0],) or bool((meta.weights < 0).any()):
            raise ValueError("meta.weights must be one non-negative weight per row of others")
        weights = torch.cat([torch.tensor([meta.own_weight], dtype=meta.weights.dtype), meta.weights])
        if float(weights.sum()) <= 0:
            return own
        return weighted_average(torch.cat([own[None], others]), weights)

    def combine(self, candidates: torch.Tensor) -> torch.Tensor:
        """The unweighted mean over the candidates axis (-2) of `[..., m, d]`."""
        return candidates.mean(dim=-2)


class StalenessMean:
    """x' = (own + Σ_j (1 + τ_j)^(-a) x_j) / (1 + Σ_j (1 + τ_j)^(-a)), τ_j = `meta.staleness` in rounds.

    In asynchronous gossip a neighbour's model can be rounds behind the receiver's; FedAsync's
    polynomial staleness function (Xie, Koyejo & Gupta 2019) lets an old model pull less. With
    `decay` a = 0, or when every update is fresh (lock-step rounds), it is the plain mean. The node
    already drops updates older than `max_staleness` rounds; this weighs the ones it keeps.
    """

    def __init__(self, decay: float = 0.5) -> None:
        if not decay >= 0 or decay == float("inf"):
            raise ValueError(f"decay must be a finite number >= 0, got {decay}")
        self.decay = decay

    def __call__(self, own: torch.Tensor, others: torch.Tensor, meta: Meta) -> torch.Tensor:
        if others.shape[0] == 0:
            return own
        staleness = meta.staleness if meta.staleness is not None else torch.zeros(others.shape[0])
        if staleness.shape != (others.shape[0],) or bool((staleness < 0).any()):
            raise ValueError("meta.staleness must be one non-negative age per row of others")
        return mix_with_own(own, 1.0, others, (1.0 + staleness.to(torch.float64)) ** -self.decay)


class Metropolis:
    """Metropolis–Hastings mixing: w_ij = 1 / (1 + max(deg_i, deg_j)), w_ii = 1 - Σ_j w_ij.

    The weights of a symmetric, doubly stochastic mixing matrix (Xiao & Boyd 2004), so repeated
    gossip converges to the exact network average. A neighbour that sent nothing this round
    contributes its weight to the own model. Degrees come from `meta.own_degree` and
    `meta.degrees`; where they are missing, every degree is taken as the number of candidates - 1.
    """

    def __call__(self, own: torch.Tensor, others: torch.Tensor, meta: Meta) -> torch.Tensor:
        n = others.shape[0]
        if n == 0:
            return own
        own_degree = meta.own_degree if meta.own_degree is not None else n
        degrees = meta.degrees if meta.degrees is not None else torch.full((n,), float(n))
        weights = self.weights(torch.tensor([float(own_degree)]), degrees.to(torch.float32)[None])[0]
        return weighted_average(torch.cat([own[None], others]), weights)

    @staticmethod
    def weights(own_degree: torch.Tensor, degrees: torch.Tensor) -> torch.Tensor:
        """[own, neighbours] weights ([..., 1 + n]) from the own degrees ([...]) and the senders' ([..., n])."""
        w = 1.0 / (1.0 + torch.maximum(degrees, own_degree[..., None]))
        return torch.cat([(1.0 - w.sum(dim=-1, keepdim=True)).clamp(min=0), w], dim=-1)
