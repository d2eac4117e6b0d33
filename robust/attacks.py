"""Attacks for experiments: model poisoning on update deltas, data poisoning, Sybil clones.

Model-poisoning attacks act on *deltas*: an attacker trains honestly from its round-start
model x0 to x, so its honest delta is g = x - x0; it then sends x0 + attack(...). Each attack
is a small callable `attack(own_delta, honest_deltas, generator) -> delta`, where
`honest_deltas` ([h, d]) is what an omniscient attacker knows of the honest peers (its own
delta alone when it knows nothing else).

Data-poisoning attacks (label flipping, backdoor) transform the attacker's training batches
`(x, y) -> (x', y')` and are used by the workload; they carry the target that the attack
success rate is measured against.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import torch
from torch import Tensor


@dataclass(frozen=True)
class SignFlip:
    """-s · g: ascend instead of descend (Damaskinos et al. 2018; Allen-Zhu et al. 2021)."""

    scale: float = 1.0

    def __call__(self, own_delta: Tensor, honest_deltas: Tensor, generator: torch.Generator) -> Tensor:
        return -self.scale * own_delta


@dataclass(frozen=True)
class GaussianNoise:
    """g + N(0, σ²) per coordinate (the "Gaussian" Byzantine worker of Blanchard et al. 2017)."""

    sigma: float = 1.0

    def __call__(self, own_delta: Tensor, honest_deltas: Tensor, generator: torch.Generator) -> Tensor:
        return own_delta + self.sigma * torch.randn(own_delta.shape, generator=generator)


@dataclass(frozen=True)
class ALIE:
    """A Little Is Enough (Baruch, Baruch, Goldberg, NeurIPS 2019): μ - z·σ per coordinate.

    μ, σ over the honest deltas; z_max from n peers of which f are Byzantine:
    s = floor(n/2 + 1) - f,  z = Φ⁻¹((n - s) / n). Small enough to pass distance-based rules.
    `z` overrides the computed value when given.
    """

    n: int = 10
    f: int = 2
    z: float | None = None

    def z_value(self) -> float:
        if self.z is not None:
            return self.z
        s = math.floor(self.n / 2 + 1) - self.f
        return NormalDist().inv_cdf(min(max((self.n - s) / self.n, 1e-6), 1 - 1e-6))

    def __call__(self, own_delta: Tensor, honest_deltas: Tensor, generator: torch.Generator) -> Tensor:
        if honest_deltas.shape[0] < 2:
            return own_delta
        return honest_deltas.mean(dim=0) - self.z_value() * honest_deltas.std(dim=0)


@dataclass(frozen=True)
class InnerProductManipulation:
    """IPM (Xie, Koyejo, Gupta, UAI 2020): -ε · mean(honest); makes <aggregate, true gradient> < 0."""

    epsilon: float = 0.5

    def __call__(self, own_delta: Tensor, honest_deltas: Tensor, generator: torch.Generator) -> Tensor:
        reference = honest_deltas.mean(dim=0) if honest_deltas.shape[0] else own_delta
        return -self.epsilon * reference


MODEL_ATTACKS = {"sign_flip": SignFlip, "gaussian": GaussianNoise, "alie": ALIE, "ipm": InnerProductManipulation}


@dataclass(frozen=True)
class LabelFlip:
    """Targeted label flipping (Tolpegin et al., ESORICS 2020): every `source` label becomes `target`.

    With source = None, every label y becomes (num_classes - 1 - y) (untargeted flipping).
    """

    source: int | None = 1
    target: int = 7
    num_classes: int = 10

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.source is None:
            return x, self.num_classes - 1 - y
        return x, torch.where(y == self.source, torch.full_like(y, self.target), y)

    def success_inputs(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Test inputs on which success is measured: the source class (all classes when untargeted)."""
        mask = y == self.source if self.source is not None else torch.ones_like(y, dtype=torch.bool)
        return x[mask], y[mask]


@dataclass(frozen=True)
class Backdoor:
    """Pixel-trigger backdoor (Gu et al., BadNets 2017; Bagdasaryan et al. 2020 for FL).

    For flat 8x8 `digits` images: the trigger sets `pixels` (flat indices, the bottom-right
    corner by default) to `value` and relabels to `target`. A `fraction` of each batch is
    poisoned, so the model stays accurate on clean inputs and the backdoor hides.
    """

    target: int = 0
    pixels: tuple[int, ...] = (54, 55, 62, 63)
    value: float = 16.0
    fraction: float = 0.5

    def trigger(self, x: torch.Tensor) -> torch.Tensor:
        x = x.clone()
        x[:, list(self.pixels)] = self.value
        return x

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        count = round(self.fraction * x.shape[0])
        if count == 0:
            return x, y
        x, y = x.clone(), y.clone()
        x[:count] = self.trigger(x[:count])
        y[:count] = self.target
        return x, y

    def success_inputs(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Triggered test inputs whose true class is not the target."""
        keep = y != self.target
        return self.trigger(x[keep]), y[keep]


def sybil_clones(vector: torch.Tensor, k: int, jitter: float, generator: torch.Generator) -> torch.Tensor:
    """k near-duplicates of one poisoned vector: one adversary behind k identities.

    Each clone adds N(0, (jitter · rms(vector))²) noise, so the clones are not byte-identical
    (trivial dedup would catch that) yet stay almost perfectly similar to each other.
    """
    if k < 1:
        raise ValueError("k must be >= 1")
    rms = vector.pow(2).mean().sqrt()
    noise = torch.randn((k, *vector.shape), generator=generator) * (jitter * rms)
    return vector[None] + noise
