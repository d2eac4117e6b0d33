"""Byzantine- and Sybil-resilient aggregation rules, and the attacks that test them.

Contract: `make(name, **params)` returns `rule(own: Tensor[d], others: Tensor[n, d], meta) -> Tensor[d]`.
The candidates are `[own] + others`; with n == 0 every rule returns `own`; no rule returns NaN/Inf
for finite input. Stateless rules are pure and deterministic.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from robust.centered_clipping import CenteredClipping
from robust.coordinatewise import Median, TrimmedMean
from robust.foolsgold import FoolsGold
from robust.geometric_median import GeometricMedian
from robust.krum import Krum, MultiKrum
from robust.mean import Mean, Metropolis, StalenessMean
from robust.meta import EMPTY_META, Meta
from robust.sybilwall import SybilWall
from robust.variance_corrected import VarianceCorrected

Rule = Callable[[torch.Tensor, torch.Tensor, Meta], torch.Tensor]

RULES: dict[str, Callable[..., Rule]] = {
    "mean": Mean,
    "staleness_mean": StalenessMean,
    "metropolis": Metropolis,
    "variance_corrected": VarianceCorrected,
    "sybilwall": SybilWall,
    "krum": Krum,
    "multikrum": MultiKrum,
    "median": Median,
    "trimmed_mean": TrimmedMean,
    "geometric_median": GeometricMedian,
    "centered_clipping": CenteredClipping,
    "foolsgold": FoolsGold,
}

STATEFUL = frozenset({"sybilwall", "foolsgold"})


def make(name: str, **params: Any) -> Rule:
    """The rule `name` with its parameters; a clear error for an unknown name or parameter."""
    if name not in RULES:
        raise ValueError(f"unknown aggregation rule {name!r}; expected one of {sorted(RULES)}")
    try:
        return RULES[name](**params)
    except TypeError as exc:
        raise ValueError(f"bad parameters for rule {name!r}: {exc}") from exc


__all__ = ["EMPTY_META", "RULES", "STATEFUL", "Meta", "Rule", "make"]
