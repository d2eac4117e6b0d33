"""Variance-corrected averaging (Tian, Al-Ars, Kitsak, Hofstee 2024, "Vanishing Variance Problem
in Fully Decentralized Neural-Network Systems").

Averaging n uncorrelated models divides each layer's weight variance by about n, pushing
it below the Xavier-optimal scale and stalling learning. The rule averages, then restores
each tensor's variance:

    a      = c·own + (1 - c)·mean(others)                 (conservative average, c = 0.5)
    σ²_t   = target variance of the tensor: mean of the received models' variances ("received"),
             c·var(own) + (1 - c)·that ("weighted"), or var(own) ("own")
    a'     = mean(a) + (a - mean(a)) · (σ_t + ε) / (σ(a) + ε),   ε = 1e-4

The ratio is of standard deviations, with ε in both terms: against a Xavier-scale spread
(σ ≈ 0.06 for a 256-wide layer) ε changes the ratio by under 0.2 %, while a tensor whose
spread is far below ε is left as averaged instead of being rescaled by noise. For LoRA this matters: in `ffa` and at
initialisation in `lora`, B is zero, has no variance to preserve and is left alone; the
correction acts on tensors with Xavier-scale spread (A in `lora`, dense heads, models
initialised from per-peer seeds), which is exactly where the vanishing-variance effect lives.
"""

from __future__ import annotations

import torch

from robust.meta import Meta

TARGETS = ("received", "weighted", "own")


class VarianceCorrected:
    def __init__(self, c: float = 0.5, target: str = "received", eps: float = 1e-4) -> None:
        if not 0.0 <= c <= 1.0:
            raise ValueError("c must be in [0, 1]")
        if target not in TARGETS:
            raise ValueError(f"target must be one of {TARGETS}")
        self.c, self.target, self.eps = c, target, eps

    def __call__(self, own: torch.Tensor, others: torch.Tensor, meta: Meta) -> torch.Tensor:
        if others.shape[0] == 0:
            return own
        averaged = self.c * own + (1.0 - self.c) * others.mean(dim=0)
        slices = [s for _, s in meta.spec.slices()] if meta.spec is not None else [slice(0, own.numel())]
        out = averaged.clone()
        for part in slices:
            a = averaged[part]
            if a.numel() < 2:
                continue
            received = others[:, part].var(dim=1).mean()
            own_var = own[part].var()
            target = {"received": received, "own": own_var,
                      "weighted": self.c * own_var + (1 - self.c) * received}[self.target]
            scale = (target.sqrt() + self.eps) / (a.var().sqrt() + self.eps)
            centre = a.mean()
            out[part] = centre + (a - centre) * scale
        return out
