"""Seeded partitioners that give each peer its private share of a pool of labelled samples.

numpy only, without torch, so that the commands which only name them (`data split --partition`,
`testnet up --partition`) start quickly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PartitionOptions:
    alpha: float = 0.5            # dirichlet
    classes_per_peer: int = 2     # pathological
    samples_per_peer: int = 16    # sampled


Split = Callable[[np.ndarray, int, np.random.Generator, PartitionOptions], list[np.ndarray]]


def _iid(labels: np.ndarray, peers: int, rng: np.random.Generator, o: PartitionOptions) -> list[np.ndarray]:
    return [np.sort(p) for p in np.array_split(rng.permutation(len(labels)), peers)]


def _dirichlet(labels: np.ndarray, peers: int, rng: np.random.Generator, o: PartitionOptions) -> list[np.ndarray]:
    if not o.alpha > 0 or not np.isfinite(o.alpha):  # `nan <= 0` is False
        raise ValueError(f"dirichlet alpha must be a finite number > 0, got {o.alpha}")
    shares: list[list[int]] = [[] for _ in range(peers)]
    for c in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == c))
        proportions = rng.dirichlet(np.full(peers, o.alpha))
        cuts = (np.cumsum(proportions)[:-1] * len(members)).astype(int)
        for peer, chunk in enumerate(np.split(members, cuts)):
            shares[peer].extend(chunk.tolist())
    return _ensure_nonempty([np.array(sorted(s), dtype=np.int64) for s in shares], rng)


def _pathological(labels: np.ndarray, peers: int, rng: np.random.Generator, o: PartitionOptions) -> list[np.ndarray]:
    classes = np.unique(labels)
    if not 1 <= o.classes_per_peer <= len(classes):
        raise ValueError(f"classes_per_peer must be in [1, {len(classes)}]")
    order = np.argsort(labels, kind="stable")
    shards = np.array_split(order, peers * o.classes_per_peer)
    dealt = rng.permutation(len(shards))
    return [np.sort(np.concatenate([shards[s] for s in dealt[p::peers]])) for p in range(peers)]


def _sampled(labels: np.ndarray, peers: int, rng: np.random.Generator, o: PartitionOptions) -> list[np.ndarray]:
    if not 1 <= o.samples_per_peer <= len(labels):
        raise ValueError(f"samples_per_peer must be in [1, {len(labels)}], got {o.samples_per_peer}")
    return [np.sort(rng.choice(len(labels), o.samples_per_peer, replace=False)) for _ in range(peers)]


@dataclass(frozen=True)
class Partitioner:
    split: Split
    overlapping: bool = False  # shards may share samples: not for splitting data among real peers


PARTITIONERS: dict[str, Partitioner] = {
    "iid": Partitioner(_iid),
    "dirichlet": Partitioner(_dirichlet),
    "pathological": Partitioner(_pathological),
    "sampled": Partitioner(_sampled, overlapping=True),
}
"""Every partitioner by name (the one list the simulator's config, the CLI and `partition` read)."""
DISJOINT_PARTITIONERS = tuple(name for name, p in PARTITIONERS.items() if not p.overlapping)  # for real peers' data


def partition(labels: np.ndarray, peers: int, scheme: str = "iid", *, alpha: float = 0.5,
              classes_per_peer: int = 2, samples_per_peer: int = 16, seed: int = 0) -> list[np.ndarray]:
    """Indices for each peer.

    iid:          a shuffled equal split.
    dirichlet:    per class, shares across peers ~ Dirichlet(α) (Hsu et al. 2019); small α = strong skew.
    pathological: each peer holds `classes_per_peer` classes (McMahan et al. 2017), shards dealt round-robin.
    sampled:      each peer draws `samples_per_peer` distinct samples on its own, so shards overlap:
                  IID data for more peers than a small pool can split (10 000 digits peers).
    Every peer gets at least one sample.
    """
    if peers < 1:
        raise ValueError("need at least one peer")
    partitioner = PARTITIONERS.get(scheme)
    if partitioner is None:
        raise ValueError(f"unknown partitioner {scheme!r}; expected one of {list(PARTITIONERS)}")
    if not partitioner.overlapping and peers > len(labels):
        raise ValueError(f"{peers} peers but only {len(labels)} samples (partition = \"sampled\" lets shards overlap)")
    options = PartitionOptions(alpha, classes_per_peer, samples_per_peer)
    return partitioner.split(labels, peers, np.random.default_rng(seed), options)


def _ensure_nonempty(shares: list[np.ndarray], rng: np.random.Generator) -> list[np.ndarray]:
    """Move single samples from the largest shares to empty ones (tiny α can leave a peer with nothing)."""
    for i, share in enumerate(shares):
        if len(share) == 0:
            donor = int(np.argmax([len(s) for s in shares]))
            pick = rng.integers(len(shares[donor]))
            shares[i] = shares[donor][pick:pick + 1]
            shares[donor] = np.delete(shares[donor], pick)
    return shares
