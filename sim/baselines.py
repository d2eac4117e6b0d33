"""Baselines in the same runner: centralised FedAvg (a star whose hub averages), isolated training,
and the ceiling: one model trained centrally on all honest peers' data.

FedAvg and isolated use the simulation's own peers (same data shares, adapters, trainers and
local steps), in lock-step rounds; the time axis is rounds × local steps × step_seconds, as for
gossip. One loop serves both engines through `_Peers`, so the nodes engine's and the batched
engine's baselines are the same computation (tested to agree). `central` trains one adapter of
its own on the union of the honest shares (`_central`).
"""

from __future__ import annotations

import time
from typing import Any, Protocol

import numpy as np
import torch

from peer.adapters import Adapter
from peer.round_momentum import quasi_global_step
from peer.trainer import Trainer
from sim.batched.engine import BatchedSimulation
from sim.runner import Simulation, peer_shares
from sim.seeds import derive_seed


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
    the hub averages the trainable vectors weighted by data size. With the genesis'
    `quasi_global_momentum` β > 0 the hub's step is FedAvgM (Hsu, Qi, Brown 2019: server momentum
    over the round's average displacement), the centralised form of what gossiping peers then do,
    so the two stay comparable. Isolated: no communication. Central: the ceiling (`_central`).
    Neither takes the momentum."""
    started = time.perf_counter()
    peers: _Peers = _NodePeers(sim) if isinstance(sim, Simulation) else _BatchedPeers(sim)
    rounds = sim.config.run.rounds
    every = max(1, round(sim.config.run.eval_every))
    weights = peers.sizes()
    global_vector = peers.vectors()[0].cpu()
    if kind == "central":
        _central(sim, global_vector, len(weights), rounds, every)
        return _summary(sim, kind, rounds * len(weights), started)
    beta = sim.config.genesis.training.quasi_global_momentum
    momentum = torch.zeros_like(global_vector)
    peers.evaluate(0)
    for r in range(1, rounds + 1):
        if kind == "fedavg":
            peers.set_all(global_vector)
        peers.train()
        if kind == "fedavg":
            average = (weights @ peers.vectors().cpu()) / weights.sum()
            global_vector, momentum = quasi_global_step(global_vector, average, momentum, beta) if beta > 0 \
                else (average, momentum)
            peers.set_all(global_vector)
        if r % every == 0 or r == rounds:
            peers.evaluate(r)
    return _summary(sim, kind, rounds * len(weights), started)


def _summary(sim: Simulation | BatchedSimulation, kind: str, peer_rounds: int, started: float) -> dict[str, Any]:
    summary = sim.metrics.summary()
    summary.update(name=sim.config.run.name, seed=sim.seed, mode="sync", baseline=kind, engine=sim.engine,
                   peer_rounds=peer_rounds, wall_seconds=round(time.perf_counter() - started, 3),
                   config=sim.config.to_dict())
    return summary


def _central(sim: Simulation | BatchedSimulation, start: torch.Tensor, honest: int, rounds: int, every: int) -> None:
    """The ceiling: one adapter, from the peers' shared start, trained on the union of the honest
    peers' shares with as many samples per round as they see together (honest × K steps of the
    same batch size, the same optimizer and learning rate). No gossip, no averaging: what the
    same budget of samples buys when all the data is in one place. One metrics row per
    evaluation (peer 0). Both engines run this same code."""
    c = sim.config
    shares = peer_shares(c, sim.workload.train.labels.numpy(), sim.seed)
    union = np.concatenate([shares[i] for i, h in enumerate(sim.honest_mask()) if h])
    adapter = Adapter(sim.workload.build_base(sim.device), c.genesis)
    adapter.set_vector(start)
    trainer = Trainer(adapter, sim.workload.train.subset(union), c.genesis.training, sim.device,
                      derive_seed(sim.seed, "batches", "central"), classes=sim.workload.num_classes)

    def evaluate(r: int) -> None:
        loss, accuracy = trainer.evaluate(sim.workload.test)
        sim.metrics.add(time=_time(sim, r), round=r, peer=0, honest=True, online=True, accuracy=accuracy, loss=loss,
                        bytes_sent=0, bytes_received=0, consensus_distance=0.0, attack_success=float("nan"))
        sim.metrics.flush()

    evaluate(0)
    for r in range(1, rounds + 1):
        trainer.train_steps(honest * c.genesis.training.local_steps)
        if r % every == 0 or r == rounds:
            evaluate(r)
