"""`digits`: scikit-learn's 8x8 handwritten digits (1 797 images, shipped with scikit-learn).

Base model: an MLP pre-trained deterministically from the genesis seed on a public slice
(10 % of the training pool, never given to peers) restricted to the digits 0-4, cached by
content hash. It is a base for a *related* task, as a pre-trained model is: about half
accurate on all ten digits, so the peers have something real to learn together. Peers adapt it with
LoRA on `fc1`/`fc2` and a fully trained `head`. The global test set is a fixed 20 %.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from sklearn.datasets import load_digits
from torch import nn

from peer.data import TensorData, split
from peer.genesis import Genesis
from peer.workloads import SharedBase, Workload, seeded_init

ARCH_VERSION = 2
PRETRAIN_CLASSES = 5
HIDDEN = 64
PRETRAIN_STEPS = 150


class DigitsMLP(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(64, HIDDEN)
        self.fc2 = nn.Linear(HIDDEN, HIDDEN)
        self.head = nn.Linear(HIDDEN, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(self.fc2(torch.relu(self.fc1(x)))))


def _cache_dir() -> Path:
    return Path(os.environ.get("LORAGOSSIP_CACHE", Path.home() / ".cache" / "loragossip"))


def load_pool(seed: int) -> tuple[TensorData, TensorData, TensorData]:
    """(public pre-training slice, peer pool, global test set), all fixed by the seed."""
    digits = load_digits()
    data = TensorData({"x": torch.tensor(digits.data / 16.0, dtype=torch.float32)},
                      torch.tensor(digits.target, dtype=torch.long))
    pool, test = split(data, 0.2, seed)
    pool, public = split(pool, 0.1, seed + 1)
    return public, pool, test


def _pretrain(public: TensorData, seed: int) -> DigitsMLP:
    public = public.subset(torch.nonzero(public.labels < PRETRAIN_CLASSES).ravel())
    model = seeded_init(seed, DigitsMLP)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    generator = torch.Generator().manual_seed(seed)
    for _ in range(PRETRAIN_STEPS):
        index = torch.randint(len(public), (64,), generator=generator)
        loss = nn.functional.cross_entropy(model(public.features["x"][index]), public.labels[index])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model


def base_model(seed: int, public: TensorData) -> DigitsMLP:
    """The pre-trained base, from the cache when present (written atomically, so racing peers agree)."""
    path = _cache_dir() / f"digits-mlp-v{ARCH_VERSION}-seed{seed}.safetensors"
    model = DigitsMLP()
    if path.exists():
        try:
            model.load_state_dict(load_file(path))
            return model
        except Exception:  # a foreign or damaged cache file: rebuild it
            path.unlink(missing_ok=True)
    with torch.enable_grad():
        model = _pretrain(public, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, tmp)
    os.replace(tmp, path)
    return model


def build(genesis: Genesis, data_path: str | Path | None = None) -> Workload:
    seed = genesis.network.seed % (2**31)
    public, pool, test = load_pool(seed)
    return Workload("digits", 10, SharedBase(DigitsMLP, base_model(seed, public)), pool, test)
