"""What a rule may know about the candidates besides their vectors."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch


class Layout(Protocol):
    """How a flat adapter vector splits into named tensors (the wire's `AdapterSpec` is one):
    the only thing a rule needs to know about the adapter, so `robust` stands on tensors alone."""

    def slices(self) -> list[tuple[str, slice]]: ...


@dataclass(frozen=True)
class Meta:
    """Side information for `rule(own, others, meta)`; every field is optional.

    senders:    peer ids of `others`, row for row (stateful rules key their memory on them).
    weights:    non-negative mixing weights of `others` (weighted mean).
    own_weight: weight of the own model in weighted rules.
    staleness:  age of each received model in rounds (`staleness_mean` discounts old ones).
    own_degree / degrees: graph degrees for Metropolis–Hastings weights.
    spec:       the adapter's layout, for rules that act per tensor (variance correction).
    generator:  seeded randomness for randomised rules.
    """

    senders: tuple[bytes, ...] = ()
    weights: torch.Tensor | None = None
    own_weight: float = 1.0
    staleness: torch.Tensor | None = None
    own_degree: int | None = None
    degrees: torch.Tensor | None = None
    spec: Layout | None = None
    generator: torch.Generator | None = None


EMPTY_META = Meta()
