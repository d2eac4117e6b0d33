"""The adapter spec: names, shapes and dtypes of the trainable tensors, in their stable order.

`peer/` derives it from the genesis and the model; the wire format checks every received
tensor against it, so a message can never resize or reshape a peer's adapter.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class TensorSpec:
    name: str
    shape: tuple[int, ...]
    dtype: str = "float32"

    @property
    def numel(self) -> int:
        return math.prod(self.shape)


@dataclass(frozen=True)
class AdapterSpec:
    """The ordered trainable tensors; the flat vector is their concatenation in this order."""

    tensors: tuple[TensorSpec, ...]

    @property
    def numel(self) -> int:
        return sum(t.numel for t in self.tensors)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.tensors)

    def __getitem__(self, name: str) -> TensorSpec:
        for tensor in self.tensors:
            if tensor.name == name:
                return tensor
        raise KeyError(name)

    def __contains__(self, name: object) -> bool:
        return any(t.name == name for t in self.tensors)

    def split(self, vector: torch.Tensor) -> dict[str, torch.Tensor]:
        """Views of a flat vector as the named tensors (no copy)."""
        if vector.numel() != self.numel:
            raise ValueError(f"vector has {vector.numel()} values, the spec {self.numel}")
        out, offset = {}, 0
        for t in self.tensors:
            out[t.name] = vector[offset:offset + t.numel].view(t.shape)
            offset += t.numel
        return out

    def join(self, tensors: dict[str, torch.Tensor]) -> torch.Tensor:
        """The flat float32 vector of named tensors, in spec order."""
        return torch.cat([tensors[t.name].reshape(-1).to(torch.float32) for t in self.tensors])

    def slices(self) -> list[tuple[str, slice]]:
        """(name, slice into the flat vector) per tensor: per-layer rules use it."""
        out, offset = [], 0
        for t in self.tensors:
            out.append((t.name, slice(offset, offset + t.numel)))
            offset += t.numel
        return out
