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

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from robust.history import HistoryMatrix
from robust.mean import mix_with_own
from robust.meta import Meta
from robust.pairwise import cosine_similarities, cosines_from_products, gram


def foolsgold_weights(histories: torch.Tensor) -> np.ndarray:
    """Weights in [0, 1] (float32) for the rows of `histories` ([m, d]); pure, one Gram matrix."""
    m = histories.shape[0]
    if m < 2:
        return np.ones(m, np.float32)
    return weights_from_similarities(cosine_similarities(histories.to(torch.float32)))


def foolsgold_weights_batched(histories: Sequence[torch.Tensor]) -> np.ndarray:
    """`foolsgold_weights` of each `[m, d]` history matrix in `histories` (all the same m), with
    the weights of all of them computed together: `[G, m]`. The batched engine's receivers
    holding m updates each. Each Gram product stays its own (`pairwise.gram` slices a
    tall-skinny one; stacking them for one `bmm` first cost an extra pass over the histories
    and ran 2-3x slower at d >= 1e5, `bench/batched_rules.py`)."""
    m = histories[0].shape[0] if histories else 0
    if m < 2:
        return np.ones((len(histories), m), np.float32)
    products = np.stack([gram(h.to(torch.float32)).double().numpy() for h in histories])
    return weights_from_similarities(cosines_from_products(products))


def weights_from_similarities(cs: np.ndarray) -> np.ndarray:
    """FoolsGold's weights (float32) from the `[..., m, m]` cosine similarities of the histories
    (m >= 2), each `[m, m]` matrix on its own.

    Written with plain ufuncs: at m = 8 the Python wrappers of `np.clip` and `np.nan_to_num`
    took about 40 % of this function's time (cProfile), more than their arithmetic."""
    cs = cs.copy()
    diagonal = np.arange(cs.shape[-1])
    cs[..., diagonal, diagonal] = 0
    v = cs.max(axis=-1)
    pardon = v[..., :, None] < v[..., None, :]
    cs = np.where(pardon, cs * v[..., :, None] / np.maximum(v[..., None, :], 1e-12), cs)
    alpha = np.minimum(np.maximum(1 - cs.max(axis=-1), 0), 1)
    top = alpha.max(axis=-1, keepdims=True)
    # Where top <= 0 every alpha is 0, and stays 0 (weight 0 below); a NaN top, from a NaN similarity,
    # divides every alpha of that matrix into NaN, so all its weights end at 0 too.
    alpha = alpha / np.where(top <= 0, 1, top)
    alpha[alpha >= 1] = 0.99
    with np.errstate(divide="ignore"):
        logit = np.log(alpha / (1 - alpha)) + 0.5
    logit[~(logit > 0)] = 0  # -inf where alpha == 0, NaN from a NaN similarity: no weight
    return np.minimum(logit, 1).astype(np.float32)


def check_senders(others: torch.Tensor, meta: Meta, rule: str) -> None:
    """FoolsGold and SybilWall key their histories by sender: one id per received model."""
    if len(meta.senders) != others.shape[0]:
        raise ValueError(f"{rule} needs meta.senders, one per row of others")


class FoolsGold:
    """FoolsGold over per-sender histories of pulls; state grows with the number of senders seen."""

    def __init__(self, max_senders: int = 4096) -> None:
        self.max_senders = max_senders
        self.histories = HistoryMatrix()

    def __call__(self, own: torch.Tensor, others: torch.Tensor, meta: Meta) -> torch.Tensor:
        if others.shape[0] == 0:
            return own
        check_senders(others, meta, "foolsgold")
        weights = foolsgold_weights(self.record(own, others, meta.senders))
        return mix_with_own(own, 1.0, others, torch.from_numpy(weights))

    def record(self, own: torch.Tensor, others: torch.Tensor, senders: tuple[bytes, ...]) -> torch.Tensor:
        """Add this round's pulls to the senders' histories and return those histories (`[n, d]`,
        in `senders` order): what the weights are computed from. The batched engine calls it
        for each receiver and computes all their weights at once (`foolsgold_weights_batched`)."""
        self.histories.add_pulls(senders, others, own)
        current = set(senders)
        stale = [k for k in self.histories if k not in current]
        for key in stale[: max(0, len(self.histories) - self.max_senders)]:
            self.histories.remove(key)  # the longest-known senders that did not send this round
        if list(senders) == self.histories.keys():  # the rows in use are exactly this round's senders
            return self.histories.matrix()
        return self.histories.select(senders)

    def state(self) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """The histories, for a checkpoint (`robust.history.Remembers`)."""
        return self.histories.state()

    def restore(self, tensors: dict[str, torch.Tensor], state: dict[str, Any], width: int) -> None:
        self.histories = HistoryMatrix.from_state(tensors, state, width)
