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
        return self.combine(torch.cat([own[None], others]))

    def combine(self, candidates: torch.Tensor) -> torch.Tensor:
        """Over the candidates axis (-2) of `[..., m, d]`; each set stops on its own objective, so a
        batch of sets gives what each set alone gives."""
        batch = candidates.reshape(-1, *candidates.shape[-2:])
        z = batch.mean(dim=1)
        objective = torch.full((batch.shape[0],), float("inf"), dtype=torch.float64, device=batch.device)
        active = torch.ones(batch.shape[0], dtype=torch.bool, device=batch.device)
        for _ in range(self.iterations):
            distances = torch.linalg.vector_norm(batch - z[:, None], dim=2)
            new_objective = distances.double().sum(dim=1)
            active &= (objective - new_objective) > self.tol * new_objective.clamp(min=1e-30)
            if not bool(active.any()):
                break
            objective = torch.where(active, new_objective, objective)
            beta = 1.0 / distances.clamp(min=self.nu)
            step = (beta[:, :, None] * batch).sum(dim=1) / beta.sum(dim=1, keepdim=True)  # same sums for any G
            z = torch.where(active[:, None], step, z)
        return z.reshape(*candidates.shape[:-2], candidates.shape[-1])
