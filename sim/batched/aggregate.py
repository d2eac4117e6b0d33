"""Every receiver's aggregation in one pass, with the rules of `robust/` themselves.

Receivers are grouped by how many updates they hold. Rules with a batched form
(`combine(candidates[..., m, d])`: mean, median, trimmed mean, centered clipping, geometric
median, Krum and Multi-Krum from one batched Gram product) run once per group on
`[G, k + 1, d]`; Metropolis–Hastings runs per group with the degrees the updates carry, as in a
node. FoolsGold keeps one instance per peer (its histories): each records its pulls, and the
weights of a group come from one batched Gram product of their histories. Every other rule
(variance correction, SybilWall with its gossiped records) is called peer by peer, exactly as
a `PeerNode` calls it. As in the node, a result that is not finite is refused and the own
model kept.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from gossip.codecs import all_finite
from gossip.spec import AdapterSpec
from robust import Meta, Rule
from robust.foolsgold import FoolsGold, foolsgold_weights_batched
from robust.mean import Metropolis, mix_with_own

GROUP_VALUES = 1 << 24  # float32 values gathered per group pass (64 MiB)


@dataclass
class Arrival:
    """One update a receiver holds: the sender's index, its decoded vector, the round it was sent in
    and the sender's degree then (as its update body carries it)."""

    sender: int
    vector: torch.Tensor
    round: int
    degree: int


class Aggregator:
    def __init__(self, rules: Sequence[Rule], spec: AdapterSpec, ids: Sequence[bytes],
                 generators: Sequence[torch.Generator]) -> None:
        self.rules, self.spec, self.ids, self.generators = rules, spec, ids, generators
        shared = len({id(r) for r in rules}) == 1
        # how receivers merge, fixed for the run: one batched call per group of equal inbox sizes
        # (a shared rule with a batched form, or FoolsGold's instances), else peer by peer
        self.batched_combine = shared and (hasattr(rules[0], "combine") or isinstance(rules[0], Metropolis))
        self.grouped = self.batched_combine or all(isinstance(r, FoolsGold) for r in rules)
        self.refused = 0

    def __call__(self, vectors: torch.Tensor, inboxes: dict[int, list[Arrival]],
                 degree: Callable[[int], int], rounds: Sequence[int]) -> None:
        """Merge each receiver's arrivals into its row of `vectors` (in place); `rounds` are the receivers'."""
        if not self.grouped:
            for receiver, arrivals in inboxes.items():
                if arrivals:
                    self._one(vectors, receiver, arrivals, degree, rounds[receiver])
            return
        groups: dict[int, list[int]] = defaultdict(list)
        for receiver, arrivals in inboxes.items():
            if arrivals:
                groups[len(arrivals)].append(receiver)
        for k, receivers in groups.items():
            step = max(1, GROUP_VALUES // ((k + 1) * self.spec.numel))
            for first in range(0, len(receivers), step):
                chunk = receivers[first:first + step]
                if self.batched_combine:
                    self._group(self.rules[0], vectors, chunk, inboxes, degree)
                else:
                    self._foolsgold_group(vectors, chunk, inboxes)

    def _group(self, rule: Rule, vectors: torch.Tensor, receivers: list[int], inboxes: dict[int, list[Arrival]],
               degree: Callable[[int], int]) -> None:
        index = torch.tensor(receivers, device=vectors.device)
        flat = torch.stack([a.vector for r in receivers for a in inboxes[r]])  # one stack, not one per receiver
        others = flat.view(len(receivers), -1, vectors.shape[1])
        candidates = torch.cat([vectors[index][:, None], others], dim=1)
        if isinstance(rule, Metropolis):
            own = torch.tensor([float(degree(r)) for r in receivers])
            senders = torch.tensor([[float(a.degree) for a in inboxes[r]] for r in receivers])
            weights = Metropolis.weights(own, senders).to(candidates.device)
            merged = (weights[:, None, :] @ candidates).squeeze(1) / weights.sum(dim=1, keepdim=True)
        else:
            merged = rule.combine(candidates)
        finite = torch.isfinite(merged).all(dim=1)
        self.refused += int((~finite).sum())
        vectors[index[finite]] = merged[finite]

    def _foolsgold_group(self, vectors: torch.Tensor, receivers: list[int],
                         inboxes: dict[int, list[Arrival]]) -> None:
        """FoolsGold for receivers holding the same number of updates: each peer's own instance
        records its pulls (`FoolsGold.record`), one batched Gram product gives every weight,
        and each mixes as `FoolsGold.__call__` does."""
        others = [torch.stack([a.vector for a in inboxes[r]]) for r in receivers]
        histories = [  # views of each instance's history rows: used before any instance changes again
            self.rules[r].record(vectors[r], x, tuple(self.ids[a.sender] for a in inboxes[r]))  # type: ignore[attr-defined]
            for r, x in zip(receivers, others, strict=True)]
        weights = torch.from_numpy(foolsgold_weights_batched(histories))
        for r, x, w in zip(receivers, others, weights, strict=True):
            self._keep(vectors, r, mix_with_own(vectors[r], 1.0, x, w))

    def _one(self, vectors: torch.Tensor, receiver: int, arrivals: list[Arrival], degree: Callable[[int], int],
             rnd: int) -> None:
        own = vectors[receiver]
        others = torch.stack([a.vector for a in arrivals])
        meta = Meta(senders=tuple(self.ids[a.sender] for a in arrivals),
                    staleness=torch.tensor([float(max(0, rnd - a.round)) for a in arrivals]),
                    own_degree=degree(receiver),
                    degrees=torch.tensor([float(a.degree) for a in arrivals]),
                    spec=self.spec, generator=self.generators[receiver])
        self._keep(vectors, receiver, self.rules[receiver](own, others, meta))

    def _keep(self, vectors: torch.Tensor, receiver: int, merged: torch.Tensor) -> None:
        """The receiver's new model, unless it is not finite: then its own stays (as in a node)."""
        if all_finite(merged):
            vectors[receiver] = merged
        else:
            self.refused += 1
