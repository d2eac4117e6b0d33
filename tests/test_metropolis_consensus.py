"""Metropolis–Hastings gossip keeps the network average on irregular graphs, in both engines.

Each node learns its neighbours' degrees from their updates, so the weights it applies are the
rows of the doubly stochastic Metropolis matrix: without training, the average of all peers'
vectors must stay where it started (to float32 rounding) while every peer converges to it.
Plain `mean` weighs a star's hub like any leaf and moves the average: the contrast shows the
check can fail.
"""

from __future__ import annotations

import pytest

from sim.batched.engine import BatchedSimulation
from sim.config import parse_config
from sim.runner import Simulation


def gossip_only(graph: dict, rule: str, rounds: int = 80) -> dict:
    return {"run": {"name": "mh", "seed": 2, "mode": "sync", "rounds": rounds, "eval_every": rounds},
            "peers": {"count": 8, "init": "own"}, "topology": graph,  # own init: the peers start apart
            "genesis": {"gossip": {"codec": "fp32"}, "aggregation": {"rule": rule}, "training": {"local_steps": 0}}}


@pytest.mark.parametrize("engine", [Simulation, BatchedSimulation])
@pytest.mark.parametrize("graph", [{"graph": "star"}, {"graph": "barabasi_albert", "m": 1}])
def test_metropolis_keeps_the_network_average_and_converges_to_it(engine, graph):
    sim = engine(parse_config(gossip_only(graph, "metropolis")), progress=False)
    before = sim.final_vectors().clone()
    sim.run()
    after = sim.final_vectors()
    assert float((after.mean(0) - before.mean(0)).abs().max()) < 1e-6
    spread_before = float((before - before.mean(0)).norm(dim=1).max())
    spread_after = float((after - after.mean(0)).norm(dim=1).max())
    assert spread_after < 1e-3 * spread_before  # measured: 6.5 -> 1.5e-4 (star), 5e-3 (Barabási–Albert)


def test_plain_mean_on_a_star_moves_the_average():
    sim = Simulation(parse_config(gossip_only({"graph": "star"}, "mean", rounds=20)), progress=False)
    before = sim.final_vectors().clone()
    sim.run()
    assert float((sim.final_vectors().mean(0) - before.mean(0)).abs().max()) > 1e-3
