"""Sharpness-aware minimisation (Foret et al., ICLR 2021), and its adaptive form ASAM (Kwon et al., ICML 2021).

One step:  g = ∇L(w);  ε = ρ·T²g / |T g|  (T = I for SAM, T = diag|w| for ASAM);
           g' = ∇L(w + ε);  w ← optimizer step with g' (taken back at w).
K such steps are DFedSAM's local phase (Shi et al., "Improving the Model Consistency of
Decentralized Federated Learning", ICML 2023): flatter local minima drift less between peers.
Each step costs two forward/backward passes, so about twice an SGD step.
"""

from __future__ import annotations

from collections.abc import Callable

import torch


def sam_step(params: list[torch.nn.Parameter], loss_fn: Callable[[], torch.Tensor], optimizer: torch.optim.Optimizer,
             rho: float, adaptive: bool = False, clip: float | None = None) -> float:
    """One SAM/ASAM step; returns the loss at w (before the perturbation)."""
    optimizer.zero_grad(set_to_none=True)
    loss = loss_fn()
    loss.backward()
    with torch.no_grad():
        scaled = [(p.abs() * p.grad if adaptive else p.grad) for p in params if p.grad is not None]
        norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(s) for s in scaled])) if scaled else 0
        perturbations = []
        for p in params:
            if p.grad is None:
                perturbations.append(None)
                continue
            e = (p * p if adaptive else 1.0) * p.grad * (rho / (norm + 1e-12))
            p.add_(e)
            perturbations.append(e)
    optimizer.zero_grad(set_to_none=True)
    loss_fn().backward()
    with torch.no_grad():
        for p, e in zip(params, perturbations, strict=True):
            if e is not None:
                p.sub_(e)
    if clip is not None:
        torch.nn.utils.clip_grad_norm_(params, clip)
    optimizer.step()
    return float(loss.detach())
