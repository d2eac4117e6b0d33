"""Geometric median by smoothed Weiszfeld iterations (Pillutla, Kakade, Harchaoui, "Robust
Aggregation for Federated Learning", 2022).

z <- Σ β_i x_i / Σ β_i,  β_i = w_i / max(ν, |z - x_i|), from z = weighted mean, for at most
`iterations` steps or until the objective Σ w_i |z - x_i| improves by less than `tol` relatively.
Breakdown point 1/2: fewer than half arbitrary candidates move z a bounded distance.
"""

from __future__ import annotations

import torch

from robust.meta import Meta


class GeometricMedian:
    def __init__(self, iterations: int = 10, nu: float = 1e-6, tol: float = 1e-6) -> None:
        if iterations < 1:
            raise ValueError("iterations must be >= 1")
        self.iterations, self.nu, self.tol = iterations, nu, tol

    def __call__(self, own: torch.Tensor, others: torch.Tensor, meta: Meta) -> torch.Tensor:
        if others.shape[0] == 0:
            return own
        candidates = torch.cat([own[None], others])
        weights = torch.ones(candidates.shape[0], dtype=candidates.dtype)
        z = candidates.mean(dim=0)
        objective = float("inf")
        for _ in range(self.iterations):
            distances = torch.linalg.vector_norm(candidates - z, dim=1)
            new_objective = float((weights * distances).sum())
            if objective - new_objective <= self.tol * max(new_objective, 1e-30):
                break
            objective = new_objective
            beta = weights / distances.clamp(min=self.nu)
            z = (beta @ candidates) / beta.sum()
        return z
