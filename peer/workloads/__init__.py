"""Workloads: a base model plus data, each built without any download.

`build_workload(genesis, data_path)` returns a `Workload`; the base model is a pure function
of the genesis (seed, base id), so every peer of a network holds the same frozen weights.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from peer.data import TensorData
from peer.genesis import Genesis


class WorkloadError(ValueError):
    """A workload cannot be built (missing data or model files, a base hash that differs)."""


@dataclass
class Workload:
    name: str
    num_classes: int
    build_base: Callable[[], nn.Module]  # deterministic: the same genesis gives the same weights
    train: TensorData                    # the pool that partitioners split among peers
    test: TensorData                     # the global test set
    base_hash: str                       # SHA-256 of the base weights


def state_hash(module: nn.Module) -> str:
    """SHA-256 over a module's state dict (sorted names, raw bytes): pins a base model in the genesis."""
    import hashlib

    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def build_workload(genesis: Genesis, data_path: str | Path | None = None) -> Workload:
    name = genesis.model.workload
    if name == "digits":
        from peer.workloads.digits import build
    elif name == "text-tiny":
        from peer.workloads.text_tiny import build
    elif name == "sst2":
        from peer.workloads.sst2 import build
    else:  # genesis validation makes this unreachable
        raise WorkloadError(f"unknown workload {name!r}")
    workload = build(genesis, data_path)
    if genesis.model.base_hash and genesis.model.base_hash != workload.base_hash:
        raise WorkloadError(f"the base model's hash {workload.base_hash} differs from the genesis "
                            f"model.base_hash {genesis.model.base_hash}: another model or version")
    return workload


def seeded_init(seed: int, fn: Callable[[], nn.Module]) -> nn.Module:
    """Build a module under a private RNG seeded from the genesis, leaving the global RNG alone."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return fn()
