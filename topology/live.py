"""The live graph under churn: who is online, and how the edges repair (or not).

`repair=True`: when a peer leaves, each former neighbour rewires to random online peers
until it is back at the target degree, and a joining peer links to random online peers up
to the target degree. `repair=False`: edges of the base graph simply vanish while an end
is offline and come back when both ends are online, so the graph may stay broken.
"""

from __future__ import annotations

import numpy as np

from topology.graphs import Graph


class LiveGraph:
    def __init__(self, base: Graph, *, repair: bool = True, target_degree: int | None = None, seed: int = 0) -> None:
        self.base = base
        self.repair = repair
        self.target_degree = target_degree if target_degree is not None else max(1, round(float(base.degrees().mean())))
        self.rng = np.random.default_rng(seed)
        self.online: set[int] = set(range(base.n))
        self.group = [0] * base.n
        self.adj: list[set[int]] = [set(nbrs) for nbrs in base.adjacency]

    def neighbours(self, peer: int) -> list[int]:
        """Online neighbours in the same partition group."""
        g = self.group[peer]
        return sorted(j for j in self.adj[peer] if j in self.online and self.group[j] == g)

    def reachable(self, a: int, b: int) -> bool:
        return a in self.online and b in self.online and self.group[a] == self.group[b]

    def leave(self, peer: int) -> None:
        if peer not in self.online:
            return
        self.online.discard(peer)
        if not self.repair:
            return
        former = self.adj[peer]
        self.adj[peer] = set()
        for j in former:
            self.adj[j].discard(peer)
        for j in sorted(former):
            if j in self.online:
                self._fill(j)

    def join(self, peer: int) -> None:
        if peer in self.online:
            return
        self.online.add(peer)
        if self.repair:
            self._fill(peer)
        else:
            self.adj[peer] = set(self.base.adjacency[peer])

    def set_group(self, peer: int, group: int) -> None:
        self.group[peer] = group

    def _fill(self, peer: int) -> None:
        """Link `peer` to random online peers until it has `target_degree` online neighbours."""
        missing = self.target_degree - sum(1 for j in self.adj[peer] if j in self.online)
        if missing <= 0:
            return
        candidates = [j for j in self.online if j != peer and j not in self.adj[peer]]
        if not candidates:
            return
        chosen = self.rng.choice(len(candidates), size=min(missing, len(candidates)), replace=False)
        for index in np.atleast_1d(chosen):
            j = candidates[int(index)]
            self.adj[peer].add(j)
            self.adj[j].add(peer)
