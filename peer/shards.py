"""A peer's private data on disk: one safetensors file per peer (`features.<name>` and `labels`).

safetensors rather than pickle: a shard is data a peer may have been handed by someone else,
and loading it must not execute code. Loading checks the feature names, dtypes and row counts
against the workload, so a shard made for another workload fails with a clear message.
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from peer.atomic import fsync_replace
from peer.data import TensorData
from peer.partition import partition
from peer.workloads import Workload, WorkloadError


def save_shard(data: TensorData, path: str | Path) -> None:
    tensors = {f"features.{k}": v.contiguous() for k, v in data.features.items()}
    tensors["labels"] = data.labels.contiguous()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    save_file(tensors, tmp)
    fsync_replace(tmp, path)


def load_shard(path: str | Path, workload: Workload) -> TensorData:
    """Read a shard and check it fits the workload (same feature names, dtypes, trailing shapes, labels)."""
    path = Path(path)
    try:
        tensors = load_file(path)
    except (OSError, SafetensorError) as exc:
        raise WorkloadError(f"{path}: not a readable safetensors shard ({exc})") from exc
    labels = tensors.pop("labels", None)
    features = {k.removeprefix("features."): v for k, v in tensors.items() if k.startswith("features.")}
    reference = workload.train
    if labels is None or set(features) != set(reference.features) or len(features) != len(tensors):
        raise WorkloadError(f"{path}: expected tensors {sorted('features.' + k for k in reference.features)} "
                            f"and 'labels', found {sorted([*tensors, *(['labels'] if labels is not None else [])])}")
    rows = labels.shape[0]
    if rows == 0 or labels.dtype != torch.long or labels.dim() != 1:
        raise WorkloadError(f"{path}: labels must be a non-empty 1-d int64 tensor")
    if int(labels.min()) < 0 or int(labels.max()) >= workload.num_classes:
        raise WorkloadError(f"{path}: labels outside [0, {workload.num_classes}) for workload {workload.name}")
    for name, tensor in features.items():
        ref = reference.features[name]
        if tensor.dtype != ref.dtype or tensor.shape[1:] != ref.shape[1:] or tensor.shape[0] != rows:
            raise WorkloadError(f"{path}: features.{name} is {tensor.dtype} {tuple(tensor.shape)}, expected "
                                f"{ref.dtype} ({rows}, {', '.join(map(str, ref.shape[1:]))})")
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            bad = int((~torch.isfinite(tensor)).any(dim=tuple(range(1, tensor.dim()))).sum()) if tensor.dim() > 1 else 0
            raise WorkloadError(f"{path}: features.{name} has NaN or infinite values in {bad} rows; "
                                "a peer would train them into a NaN model")
    return TensorData(features, labels)


def write_shards(workload: Workload, directory: str | Path, peers: int, scheme: str = "iid", *,
                 alpha: float = 0.5, seed: int = 0) -> list[Path]:
    """Split the workload's training pool among `peers` and write `shard-NNN.safetensors` files."""
    shares = partition(workload.train.labels.numpy(), peers, scheme, alpha=alpha, seed=seed)
    paths = []
    for i, share in enumerate(shares):
        path = Path(directory) / f"shard-{i:03d}.safetensors"
        save_shard(workload.train.subset(share), path)
        paths.append(path)
    return paths
