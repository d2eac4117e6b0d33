"""Device choice: CUDA when present, CPU otherwise; an explicit choice always wins."""

from __future__ import annotations

import torch


def pick_device(override: str | None = None) -> torch.device:
    if override:
        device = torch.device(override)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"--device {override}: CUDA is not available on this machine")
        return device
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def autocast_dtype(device: torch.device) -> torch.dtype | None:
    """bf16 autocast on GPUs that support it; none on CPU (CPU bf16 matmuls are slower for small models)."""
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return None
