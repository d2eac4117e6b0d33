"""FoolsGold (Fung, Yoon, Beschastnikh, "The Limitations of Federated Learning in Sybil
Settings", RAID 2020): Sybils that push one goal send similar updates; down-weight similarity.

Over update histories h_1..h_m:
    cs_ij   = cos(h_i, h_j), cs_ii = 0;   v_i = max_j cs_ij
    pardon: cs_ij <- cs_ij · v_i / v_j  where v_i < v_j  (honest peers that merely resemble a Sybil)
    α_i     = clip(1 - max_j cs_ij, 0, 1);   α <- α / max α;   α[α = 1] = 0.99
    α_i     <- clip(ln(α_i / (1 - α_i)) + 0.5, 0, 1)         (logit, confidence κ = 1)
As an aggregation rule the history of a sender is the sum of its pulls (x_j - own) so far;
the own model keeps weight 1 and the result is the weighted mean over [own] + others.
"""

from __future__ import annotations

import torch

from robust.mean import weighted_average
from robust.meta import Meta
from robust.pairwise import cosine_similarities


def foolsgold_weights(histories: torch.Tensor) -> torch.Tensor:
    """Weights in [0, 1] for the rows of `histories` ([m, d]); pure, one Gram matrix."""
    m = histories.shape[0]
    if m == 0:
        return torch.empty(0)
    if m == 1:
        return torch.ones(1)
    cs = cosine_similarities(histories.to(torch.float32)).fill_diagonal_(0)
    v = cs.max(dim=1).values
    pardon = v[:, None] < v[None, :]
    cs = torch.where(pardon, cs * v[:, None] / v[None, :].clamp(min=1e-12), cs)
    alpha = (1 - cs.max(dim=1).values).clamp(0, 1)
    top = alpha.max()
    if float(top) <= 0:
        return torch.zeros(m)
    alpha = alpha / top
    alpha = torch.where(alpha >= 1, torch.full_like(alpha, 0.99), alpha)
    logit = torch.log(alpha / (1 - alpha)) + 0.5  # -inf where alpha == 0, clipped to 0 below
    return torch.nan_to_num(logit, nan=0.0, neginf=0.0, posinf=1.0).clamp(0, 1)


def sender_pulls(own: torch.Tensor, others: torch.Tensor, meta: Meta, rule: str) -> list[tuple[bytes, torch.Tensor]]:
    """(sender, x_j - own) per received model: the update histories of FoolsGold and SybilWall add these."""
    if len(meta.senders) != others.shape[0]:
        raise ValueError(f"{rule} needs meta.senders, one per row of others")
    return [(sender, model - own) for sender, model in zip(meta.senders, others, strict=True)]


class FoolsGold:
    """FoolsGold over per-sender histories of pulls; state grows with the number of senders seen."""

    def __init__(self, max_senders: int = 4096) -> None:
        self.max_senders = max_senders
        self.histories: dict[bytes, torch.Tensor] = {}

    def __call__(self, own: torch.Tensor, others: torch.Tensor, meta: Meta) -> torch.Tensor:
        if others.shape[0] == 0:
            return own
        for sender, pull in sender_pulls(own, others, meta, "foolsgold"):
            self.histories[sender] = self.histories[sender] + pull if sender in self.histories else pull.clone()
        while len(self.histories) > self.max_senders:
            self.histories.pop(next(iter(self.histories)))
        weights = foolsgold_weights(torch.stack([self.histories[s] for s in meta.senders]))
        return weighted_average(torch.cat([own[None], others]), torch.cat([torch.ones(1), weights]))
