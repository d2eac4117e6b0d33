"""Baselines in the same runner: centralised FedAvg (a star whose hub averages) and isolated training.

Both use the simulation's own peers (same data shares, adapters, trainers and local steps),
in lock-step rounds; the time axis is rounds × local steps × step_seconds, as for gossip. One
loop serves both engines through `_Peers`, so the nodes engine's and the batched engine's
baselines are the same computation (tested to agree).
"""

from __future__ import annotations

import time
from typing import Any, Protocol

import torch

from sim.batched.engine import BatchedSimulation
from sim.runner import Simulation


class _Peers(Protocol):
    """What a baseline needs of an engine: its honest peers' trainable vectors, training, evaluation."""

    def sizes(self) -> torch.Tensor: ...
    def vectors(self) -> torch.Tensor: ...
    def set_all(self, vector: torch.Tensor) -> None: ...
    def train(self) -> None: ...
    def evaluate(self, r: int) -> None: ...


class _NodePeers:
    def __init__(self, sim: Simulation) -> None:
        self.sim, self.honest = sim, [p for p in sim.peers if p.honest]

    def sizes(self) -> torch.Tensor:
        return torch.tensor([float(len(p.trainer.data)) for p in self.honest])

    def vectors(self) -> torch.Tensor:
        return torch.stack([p.node.adapter.get_vector() for p in self.honest])

    def set_all(self, vector: torch.Tensor) -> None:
        for p in self.honest:
            p.node.adapter.set_vector(vector)

    def train(self) -> None:
        for p in self.honest:
            p.trainer.train_steps(self.sim.config.genesis.training.local_steps)

    def evaluate(self, r: int) -> None:
        self.sim.evaluate(_time(self.sim, r), rounds=r)


class _BatchedPeers:
    def __init__(self, sim: BatchedSimulation) -> None:
        self.sim, self.honest = sim, [i for i, p in enumerate(sim.peers) if p.honest]

    def sizes(self) -> torch.Tensor:
        return torch.tensor([float(self.sim.trainer.sizes[i]) for i in self.honest])

    def vectors(self) -> torch.Tensor:
        return self.sim.trainer.vectors[self.honest]

    def set_all(self, vector: torch.Tensor) -> None:
        self.sim.trainer.vectors[self.honest] = vector.to(self.sim.trainer.vectors.device)

    def train(self) -> None:
        self.sim.train(self.honest)

    def evaluate(self, r: int) -> None:
        self.sim.evaluate(_time(self.sim, r), rounds=r)


def _time(sim: Simulation | BatchedSimulation, r: int) -> float:
    return r * sim.config.genesis.training.local_steps * sim.config.peers.step_seconds


def run_baseline(sim: Simulation | BatchedSimulation, kind: str) -> dict[str, Any]:
    """FedAvg (FedIT for `lora`): every round each peer trains K steps from the global adapter and
    the hub averages the trainable vectors weighted by data size. Isolated: no communication."""
    started = time.perf_counter()
    peers: _Peers = _NodePeers(sim) if isinstance(sim, Simulation) else _BatchedPeers(sim)
    rounds = sim.config.run.rounds
    every = max(1, round(sim.config.run.eval_every))
    weights = peers.sizes()
    global_vector = peers.vectors()[0].cpu()
    peers.evaluate(0)
    for r in range(1, rounds + 1):
        if kind == "fedavg":
            peers.set_all(global_vector)
        peers.train()
        if kind == "fedavg":
            global_vector = (weights @ peers.vectors().cpu()) / weights.sum()
            peers.set_all(global_vector)
        if r % every == 0 or r == rounds:
            peers.evaluate(r)
    summary = sim.metrics.summary()
    summary.update(name=sim.config.run.name, seed=sim.seed, mode="sync", baseline=kind, engine=sim.engine,
                   peer_rounds=rounds * len(weights), wall_seconds=round(time.perf_counter() - started, 3),
                   config=sim.config.to_dict())
    return summary
