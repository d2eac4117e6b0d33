"""Attacks for experiments: model poisoning, data poisoning, Sybil clones.

Model-poisoning attacks act on the *model* a Byzantine peer sends, as in decentralized
learning: there is no server gradient to forge, only the vector the receivers average. A
Byzantine peer trains honestly from its round-start model x0 to x (its own update is
g = x - x0), then sends `attack(x0, x, neighbours, generator)`, where `neighbours` ([h, d])
holds the models its honest neighbours sent it this round (h may be 0). Threat model: the
attacker knows its colluders, reads everything addressed to it and, in lock-step mode, sends
after it has heard its honest neighbours (the strongest position a neighbour can take without
seeing other links). `attack.omniscient = true` adds the other links: `neighbours` is then every
honest peer's model of the gossip step (the omniscient attacker of the Byzantine literature),
and it still sends when its own neighbours' updates are in. It cannot touch honest peers'
links, keys or data.

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
    """x0 - s·g: ascend instead of descend (Damaskinos et al. 2018; Allen-Zhu et al. 2021).

    Needs no knowledge of the others. Where s must be: a receiver that averages its own model
    (weight w) with the updates it got, a fraction f of them flipped, moves by
    w + (1 - w)(1 - f - f·s) honest steps. At f = 0.2 the received part cancels at s = 4, and the
    average still learns through its own weight: it stops only past s = 4 + w / ((1 - w)·f).
    Lock-step receivers merge all six neighbours (w = 1/7: s > 4.8); asynchronous ones, pushed
    to by 3 of 6 neighbours, merge 2.2 to 2.5 updates on average (measured on
    `examples/byzantine.toml`: w = 0.33 to 0.37, s > 6.7 to 6.9; `own_share_of_plain_mean` in a
    run's summary.json), which is why s = 4 barely moved async averaging while lock-step lost 55
    points. The default 12 is well past both (docs/RESULTS.md section 5).
    """

    scale: float = 12.0

    def __call__(self, start: Tensor, trained: Tensor, neighbours: Tensor, generator: torch.Generator) -> Tensor:
        return start - self.scale * (trained - start)


@dataclass(frozen=True)
class GaussianNoise:
    """x + N(0, σ²) per coordinate (the "Gaussian" Byzantine worker of Blanchard et al. 2017).

    σ is absolute, in parameter units. The default 2.0 is the smallest round value that takes
    plain averaging down by more than 20 points on `examples/byzantine.toml` (σ = 1 costs 17);
    any robust rule sees it from afar.
    """

    sigma: float = 2.0

    def __call__(self, start: Tensor, trained: Tensor, neighbours: Tensor, generator: torch.Generator) -> Tensor:
        return trained + self.sigma * torch.randn(trained.shape, generator=generator).to(trained)


@dataclass(frozen=True)
class ALIE:
    """A Little Is Enough (Baruch, Baruch, Goldberg, NeurIPS 2019), on models: μ - z·σ.

    μ and σ are the per-coordinate mean and standard deviation of the honest neighbours' models
    (the attacker's own trained model joins them when fewer than two arrived). The paper's z,
    from n peers of which f are Byzantine, s = floor(n/2 + 1) - f and z = Φ⁻¹((n - s)/n), is
    tuned to hide inside a server's majority; a gossip neighbourhood is small (n = 7, f = 1 gives
    z = 0.18) and models differ far less than gradients, so that z moves nothing. `z` (given)
    replaces the formula (`z = None` uses it). The default 5.0 is calibrated on
    `examples/byzantine.toml` (plain averaging, 60 lock-step rounds, seed 5: no attack 0.911,
    z = 3 0.819, z = 4 0.722, z = 5 0.443): σ shrinks as the neighbours agree, so the shift
    stays small in absolute terms while it pushes every coordinate the same way, every round.
    """

    n: int = 10
    f: int = 2
    z: float | None = 5.0

    def z_value(self) -> float:
        if self.z is not None:
            return self.z
        s = math.floor(self.n / 2 + 1) - self.f
        return NormalDist().inv_cdf(min(max((self.n - s) / self.n, 1e-6), 1 - 1e-6))

    def __call__(self, start: Tensor, trained: Tensor, neighbours: Tensor, generator: torch.Generator) -> Tensor:
        models = neighbours if neighbours.shape[0] >= 2 else torch.cat([neighbours, trained[None]])
        if models.shape[0] < 2:
            return trained
        return models.mean(dim=0) - self.z_value() * models.std(dim=0)


@dataclass(frozen=True)
class InnerProductManipulation:
    """IPM (Xie, Koyejo, Gupta, UAI 2020), on models: x0 - ε·(μ - x0).

    μ - x0 is where the honest neighbours went this round, seen from the attacker's round-start
    model (its last aggregate, i.e. roughly their common point); the attacker sends the opposite
    step, so the average's step has a negative inner product with the honest one once ε is large
    enough against the receivers' own weight (the sign flip's bound, `SignFlip`: on
    `examples/byzantine.toml` ε = 2 moves lock-step averaging by 1 point and ε = 4 takes it to
    chance, but asynchronously ε = 4 fails on one seed of three; the default 8 takes both to
    chance). With no neighbour heard it uses its own g.
    """

    epsilon: float = 8.0

    def __call__(self, start: Tensor, trained: Tensor, neighbours: Tensor, generator: torch.Generator) -> Tensor:
        reference = neighbours.mean(dim=0) if neighbours.shape[0] else trained
        return start - self.epsilon * (reference - start)


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

    For flat 8x8 `digits` images: the trigger sets `pixels` (flat indices, the top-left 2x2
    corner by default) to `value` and relabels to `target`. A `fraction` of each batch is
    poisoned, so the model stays accurate on clean inputs and the backdoor hides.

    A trigger must mean nothing to a clean model, or its success rate measures the model, not
    the attack. `value` is in the workload's feature units: `digits` divides pixels by 16, so
    1.0 is its brightest pixel. Measured on clean models (examples/sybil.toml without attack,
    seeds 11 and 14), the share of non-7 test images answered 7:
    - 1.0 on the top-left 2x2 (pixels 0 and 8 are never lit in the data): 2.2 % and 1.0 %,
      as without any trigger (2.2 %, 2.8 %);
    - 1.0 on the bottom-right 2x2 (the former default; pixels 54 and 62 are parts of strokes):
      7.5 % and 14.9 %: it makes a digit look like a 7;
    - 16.0 there (the former value, the raw maximum, 16 times any training pixel): 0 to 36 %
      by seed, the images collapsed onto four classes, and 83 % when the Sybils were clones of
      a clean peer (seed 15, probation 10): chance, not the attack.
    """

    target: int = 0
    pixels: tuple[int, ...] = (0, 1, 8, 9)
    value: float = 1.0
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
