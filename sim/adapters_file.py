"""`adapters.safetensors` of a simulation's output: every peer's final trainable vector.

Written beside `metrics.csv` with the run's `genesis.toml`, so `loragossip export RUN_DIR` can turn
one peer's adapter, or the honest peers' average, into a peft folder. The metadata holds which
peers were honest and the workload's data folder (a text workload rebuilds its base from it).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from peer.atomic import fsync_replace
from peer.genesis import Genesis, to_toml

FILE = "adapters.safetensors"
GENESIS = "genesis.toml"


def write_adapters(out: Path, vectors: torch.Tensor, honest: list[bool], genesis: Genesis,
                   data: Path | None) -> Path:
    """Write `vectors` ([N, d]) and the genesis into the run folder `out`, each by an atomic, fsynced rename."""
    meta = {"honest": json.dumps(honest), "data": str(data.resolve()) if data is not None else ""}
    path = out / FILE
    tmp = out / f".{FILE}.tmp"
    save_file({"vectors": vectors.detach().float().cpu().contiguous()}, tmp, metadata=meta)
    fsync_replace(tmp, path)
    tmp = out / f".{GENESIS}.tmp"
    tmp.write_text(to_toml(genesis), encoding="utf-8")
    fsync_replace(tmp, out / GENESIS)
    return path


def read_adapters(run: Path) -> tuple[torch.Tensor, list[bool], Path | None]:
    """(vectors [N, d], honest mask, data folder or None) of a run folder; ValueError when unreadable."""
    path = run / FILE
    try:
        with safe_open(path, framework="pt") as handle:
            vectors = handle.get_tensor("vectors")
            meta = handle.metadata() or {}
        honest = json.loads(meta.get("honest", "[]"))
    except Exception as exc:  # a missing file, a damaged one (safetensors has its own error type), bad JSON
        raise ValueError(f"{path}: not a simulation's adapters file ({exc})") from exc
    if vectors.dim() != 2 or len(honest) != vectors.shape[0]:
        raise ValueError(f"{path}: vectors of shape {tuple(vectors.shape)} for {len(honest)} peers")
    data = meta.get("data") or None
    return vectors, [bool(h) for h in honest], Path(data) if data else None
