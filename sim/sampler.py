"""The simulator's peer sampler: neighbours from the live graph, gossip targets drawn from them."""

from __future__ import annotations

import numpy as np

from topology.live import LiveGraph


class GraphSampler:
    def __init__(self, live: LiveGraph, peer: int, rng: np.random.Generator, send_to_all: bool = False) -> None:
        self.live, self.peer, self.rng = live, peer, rng
        self.send_to_all = send_to_all  # lock-step mode: every neighbour, every round

    def neighbours(self) -> list[int]:
        return self.live.neighbours(self.peer)

    def standing(self, address: object) -> str:
        """Every sender counts: the simulated graph is the membership, and only neighbours send."""
        return "member"

    def targets(self, k: int) -> list[int]:
        nbrs = self.neighbours()
        if self.send_to_all or len(nbrs) <= k:
            return nbrs
        return [nbrs[i] for i in sorted(self.rng.choice(len(nbrs), size=k, replace=False))]
