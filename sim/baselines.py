"""Baselines in the same runner: centralised FedAvg (a star whose hub averages) and isolated training.

Both use the simulation's own peers (same data shares, adapters, trainers and local steps),
in lock-step rounds; the time axis is rounds × local steps × step_seconds, as for gossip.
"""

from __future__ import annotations

import time
from typing import Any

import torch

from sim.runner import Simulation


def _evaluate_round(sim: Simulation, r: int) -> None:
    for peer in sim.peers:
        peer.node.round = r
    sim.evaluate(r * sim.config.genesis.training.local_steps * sim.config.peers.step_seconds)


def run_baseline(sim: Simulation, kind: str) -> dict[str, Any]:
    """FedAvg (FedIT for `lora`): every round each peer trains K steps from the global adapter and
    the hub averages the trainable vectors weighted by data size. Isolated: no communication."""
    started = time.perf_counter()
    rounds = sim.config.run.rounds
    every = max(1, round(sim.config.run.eval_every))
    honest = [p for p in sim.peers if p.honest]
    weights = torch.tensor([float(len(p.trainer.data)) for p in honest])
    global_vector = honest[0].node.adapter.get_vector()
    _evaluate_round(sim, 0)
    for r in range(1, rounds + 1):
        vectors = []
        for peer in honest:
            if kind == "fedavg":
                peer.node.adapter.set_vector(global_vector)
            peer.trainer.train_steps(sim.config.genesis.training.local_steps)
            vectors.append(peer.node.adapter.get_vector())
        if kind == "fedavg":
            global_vector = (weights @ torch.stack(vectors)) / weights.sum()
            for peer in honest:
                peer.node.adapter.set_vector(global_vector)
        if r % every == 0 or r == rounds:
            _evaluate_round(sim, r)
    summary = sim.metrics.summary()
    summary.update(name=sim.config.run.name, seed=sim.seed, mode="sync", baseline=kind,
                   peer_rounds=rounds * len(honest), wall_seconds=round(time.perf_counter() - started, 3),
                   config=sim.config.to_dict())
    return summary
