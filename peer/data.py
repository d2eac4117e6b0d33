"""Datasets as tensors (the partitioners that give each peer its share: `peer.partition`).

Every workload's data fits in memory, so a dataset is a dict of feature tensors plus labels;
batching is indexing, with no DataLoader worker processes to start per peer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class TensorData:
    features: dict[str, torch.Tensor]
    labels: torch.Tensor

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def subset(self, index: torch.Tensor | np.ndarray | list[int]) -> TensorData:
        index = torch.as_tensor(np.asarray(index, dtype=np.int64))
        return TensorData({k: v[index] for k, v in self.features.items()}, self.labels[index])

    def to(self, device: torch.device) -> TensorData:
        return TensorData({k: v.to(device) for k, v in self.features.items()}, self.labels.to(device))


def split(data: TensorData, fraction: float, seed: int) -> tuple[TensorData, TensorData]:
    """A seeded random split: (the rest, a `fraction` share)."""
    order = np.random.default_rng(seed).permutation(len(data))
    cut = round(len(data) * (1 - fraction))
    return data.subset(order[:cut]), data.subset(order[cut:])
