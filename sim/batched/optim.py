"""The nodes engine's optimizers, one row per peer: SGD with momentum and AdamW over `[n, d]` state.

Both are element-wise, so stacking them is exact per peer; what differs between peers is
only the step count (AdamW's bias correction) and the learning rate (the schedule), kept per
row. The update formulas follow `torch.optim.SGD(momentum=0.9)` and
`torch.optim.AdamW(weight_decay=0)` operation for operation, so a peer's row matches what its
own `torch.optim` instance would hold up to float rounding.
"""

from __future__ import annotations

import torch

from gossip.spec import AdapterSpec

BETA1, BETA2, EPS, MOMENTUM = 0.9, 0.999, 1e-8, 0.9


class StackedOptimizer:
    def __init__(self, kind: str, peers: int, dim: int, device: torch.device) -> None:
        if kind not in ("sgd", "adamw"):
            raise ValueError(f"unknown optimizer {kind!r}")
        self.kind = kind
        self.steps = torch.zeros(peers, dtype=torch.float64)
        self.first = torch.zeros(peers, dim, device=device)  # SGD: momentum buffer; AdamW: exp_avg
        self.second = torch.zeros(peers, dim, device=device) if kind == "adamw" else None  # exp_avg_sq

    def step(self, rows: torch.Tensor, params: torch.Tensor, grads: torch.Tensor, lr: torch.Tensor) -> torch.Tensor:
        """The new `params` ([k, d]) of peers `rows` after one step with `grads` and per-row `lr` ([k])."""
        self.steps[rows] += 1
        lr = lr.to(params.device, torch.float32)[:, None]
        if self.kind == "sgd":
            buf = self.first[rows].mul_(MOMENTUM).add_(grads)  # a zero buffer makes the first step buf = grad
            self.first[rows] = buf
            return params - lr * buf
        exp_avg = self.first[rows].lerp_(grads, 1 - BETA1)
        exp_avg_sq = self.second[rows].mul_(BETA2).addcmul_(grads, grads, value=1 - BETA2)
        self.first[rows], self.second[rows] = exp_avg, exp_avg_sq
        steps = self.steps[rows]
        step_size = (lr.double().cpu() / (1 - BETA1 ** steps)[:, None]).to(params.device, torch.float32)
        correction = ((1 - BETA2 ** steps) ** 0.5)[:, None].to(params.device, torch.float32)
        denom = (exp_avg_sq.sqrt() / correction).add_(EPS)
        return params + (-step_size * exp_avg) / denom


def row_norms(matrix: torch.Tensor, spec: AdapterSpec) -> torch.Tensor:
    """Per row, the norm of the per-tensor norms: what `clip_grad_norm_` and SAM compute for one peer."""
    per_tensor = torch.stack([torch.linalg.vector_norm(matrix[:, piece], dim=1) for _, piece in spec.slices()], dim=1)
    return torch.linalg.vector_norm(per_tensor, dim=1)


def clip_rows(grads: torch.Tensor, spec: AdapterSpec, max_norm: float | None) -> torch.Tensor:
    """`torch.nn.utils.clip_grad_norm_` applied to each peer's gradient on its own."""
    if max_norm is None:
        return grads
    coefficient = (max_norm / (row_norms(grads, spec) + 1e-6)).clamp(max=1.0)
    return grads * coefficient[:, None]
