"""Centered clipping (Karimireddy, He, Jaggi, "Learning from History for Byzantine Robust
Optimization", ICML 2021), centred on the own model as in ClippedGossip (He et al. 2022).

v <- v + (1/N) Σ_i (x_i - v) · min(1, τ / |x_i - v|), `iterations` times from v = own.
Each candidate moves v by at most τ/N per iteration, however far away it is.
"""

from __future__ import annotations

import torch

from robust.meta import Meta


class CenteredClipping:
    def __init__(self, tau: float = 1.0, iterations: int = 3) -> None:
        if tau <= 0:
            raise ValueError("tau must be > 0")
        if iterations < 1:
            raise ValueError("iterations must be >= 1")
        self.tau, self.iterations = tau, iterations

    def __call__(self, own: torch.Tensor, others: torch.Tensor, meta: Meta) -> torch.Tensor:
        if others.shape[0] == 0:
            return own
        return self.combine(torch.cat([own[None], others]))

    def combine(self, candidates: torch.Tensor) -> torch.Tensor:
        """Over the candidates axis (-2) of `[..., m, d]`, centred on the first candidate (the own model)."""
        v = candidates[..., 0, :].clone()
        for _ in range(self.iterations):
            diffs = candidates - v.unsqueeze(-2)
            norms = torch.linalg.vector_norm(diffs, dim=-1)
            factors = torch.clamp(self.tau / norms.clamp(min=1e-12), max=1.0)
            v = v + (factors.unsqueeze(-2) @ diffs).squeeze(-2) / candidates.shape[-2]
        return v
