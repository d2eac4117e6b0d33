"""Workloads: a base model plus data, each built without any download.

`build_workload(genesis, data_path)` returns a `Workload`; the base model is a pure function
of the genesis (seed, base id), so every peer of a network holds the same frozen weights.

One frozen base per process: the workload loads (or builds) its base once, and every
`build_base()` after that is a fresh module *structure* whose parameters and buffers are the
same tensors. Peers in the nodes engine, the daemon and the baselines then own only what they
train; 16 MiniLM peers hold one MiniLM, not sixteen (docs/BENCHMARKS.md).
"""

from __future__ import annotations

import hashlib
import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from peer.data import TensorData

if TYPE_CHECKING:
    from peer.genesis import Genesis


@dataclass(frozen=True)
class WorkloadEntry:
    module: str                       # where its `build(genesis, data_path)` lives, imported when built
    builtin_base: str | None = None   # the base it builds itself: a genesis must name exactly this one


WORKLOADS: dict[str, WorkloadEntry] = {
    "digits": WorkloadEntry("peer.workloads.digits", "digits-mlp"),
    "text-tiny": WorkloadEntry("peer.workloads.text_tiny", "tiny-bert"),
    "sst2": WorkloadEntry("peer.workloads.sst2"),          # model.base: "minilm" or a local model folder
    "smollm2": WorkloadEntry("peer.workloads.smollm2"),    # model.base: "smollm2" (the `lm` extra) or a GGUF file
    "llama-tiny": WorkloadEntry("peer.workloads.llama_tiny", "tiny-llama"),
}
"""Every workload by its genesis name (the one list the genesis validation and the builder read)."""


class WorkloadError(ValueError):
    """A workload cannot be built (missing data or model files, a base hash that differs)."""


def _tensors(module: nn.Module) -> dict[str, torch.Tensor]:
    """Every parameter and buffer by every name it has (tied weights appear under each name)."""
    found = {name: p.detach() for name, p in module.named_parameters(remove_duplicate=False)}
    found.update({name: b for name, b in module.named_buffers(remove_duplicate=False) if b is not None})
    return found


def _bind(module: nn.Module, tensors: dict[str, torch.Tensor]) -> nn.Module:
    """Point every parameter and buffer of `module` at the tensor of the same name (no copy)."""
    for name, current in list(module.named_parameters(remove_duplicate=False)):
        owner, _, leaf = name.rpartition(".")
        setattr(module.get_submodule(owner), leaf, nn.Parameter(tensors[name], requires_grad=current.requires_grad))
    for name, _ in list(module.named_buffers(remove_duplicate=False)):
        owner, _, leaf = name.rpartition(".")
        setattr(module.get_submodule(owner), leaf, tensors[name])
    return module


@dataclass
class SharedBase:
    """A base model held once per process and device; `instance()` is a new module over the same tensors.

    `architecture` builds the empty structure (it runs on the meta device, so it allocates nothing);
    `loaded` is the base with its weights, kept as the template."""

    architecture: Callable[[], nn.Module]
    loaded: nn.Module
    _by_device: dict[str, dict[str, torch.Tensor]] = field(default_factory=dict, repr=False)

    def tensors(self, device: torch.device | str = "cpu") -> dict[str, torch.Tensor]:
        key = str(torch.device(device))
        if key not in self._by_device:
            self._by_device[key] = {k: v.to(device) for k, v in _tensors(self.loaded).items()}
        return self._by_device[key]

    def instance(self, device: torch.device | str = "cpu") -> nn.Module:
        with torch.device("meta"):
            module = self.architecture()
        return _bind(module, self.tensors(device)).train(self.loaded.training)


@dataclass
class Workload:
    name: str
    num_classes: int
    base: SharedBase
    train: TensorData                    # the pool that partitioners split among peers
    test: TensorData                     # the global test set
    base_hash: str = ""                  # SHA-256 of the base weights (filled from `base` when empty)
    tokenizer: Any = None                # text workloads: what turns text into the model's inputs

    def __post_init__(self) -> None:
        if not self.base_hash:
            self.base_hash = state_hash(self.base.loaded)

    def build_base(self, device: torch.device | str = "cpu") -> nn.Module:
        """A module for one peer: its own structure, the process's one copy of the frozen weights."""
        return self.base.instance(device)


def state_hash(module: nn.Module) -> str:
    """SHA-256 over a module's state dict (sorted names, raw bytes): pins a base model in the genesis."""
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def build_workload(genesis: Genesis, data_path: str | Path | None = None) -> Workload:
    name = genesis.model.workload
    entry = WORKLOADS.get(name)
    if entry is None:  # genesis validation makes this unreachable
        raise WorkloadError(f"unknown workload {name!r}")
    workload = importlib.import_module(entry.module).build(genesis, data_path)
    if genesis.model.base_hash and genesis.model.base_hash != workload.base_hash:
        raise WorkloadError(f"the base model's hash {workload.base_hash} differs from the genesis "
                            f"model.base_hash {genesis.model.base_hash}: another model or version")
    return workload


def seeded_init(seed: int, fn: Callable[[], nn.Module]) -> nn.Module:
    """Build a module under a private RNG seeded from the genesis, leaving the global RNG alone."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return fn()
