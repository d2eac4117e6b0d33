"""The rules' batched forms (`rule.combine` over `[G, k + 1, d]`, as the batched engine calls them
for G receivers at once) next to two floors measured in the same run, in turn, best of each:

- `mean`: one pass over the candidates (what any rule must at least read);
- `gram`: one batched Gram product `c @ cᵀ` of every set (what an all-pairs rule must at least
  compute: Krum and Multi-Krum derive all their distances from it).

Columns are milliseconds per call and the rule's time as a multiple of the Gram product.
FoolsGold keeps one instance per receiver; its columns are the batched engine's `Aggregator`
(each instance records its pulls, one batched Gram product gives every weight) and the same G
instances called one by one, as the nodes engine calls them.
Run: python -m bench.batched_rules [--groups 64] [--k 4]
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import torch

from bench.timing import best_of, best_of_interleaved
from gossip.spec import AdapterSpec, TensorSpec
from robust import Meta, make
from robust.foolsgold import FoolsGold
from sim.batched.aggregate import Aggregator, Arrival

RULES = ["median", "trimmed_mean", "krum", "multikrum", "centered_clipping", "geometric_median"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=64, help="receivers aggregated in one call (default 64)")
    parser.add_argument("--k", type=int, default=4, help="updates each receiver holds (default 4)")
    args = parser.parse_args()
    torch.manual_seed(0)
    print(f"G = {args.groups} receivers, k + 1 = {args.k + 1} candidates each, torch threads {torch.get_num_threads()}")
    names = [*RULES, "foolsgold", "fg per peer"]
    print(f"{'d':>9} {'mean ms':>8} {'gram ms':>8} " + " ".join(f"{name[:12]:>12}" for name in names))
    for d in (10_000, 100_000, 1_000_000):
        candidates = torch.randn(args.groups, args.k + 1, d)
        rounds = int(min(10, max(3, 0.05 / best_of(lambda c=candidates: c @ c.transpose(1, 2)))))
        fns = {"mean": lambda c=candidates: c.mean(dim=1), "gram": lambda c=candidates: c @ c.transpose(1, 2)}
        for name in RULES:
            rule = make(name, **({"f": 1} if "krum" in name else {}))
            fns[name] = lambda rule=rule, c=candidates: rule.combine(c)
        fns["foolsgold"], fns["fg per peer"] = foolsgold_calls(candidates)
        best = best_of_interleaved(fns, rounds)
        cells = [f"{best[n] * 1e3:7.1f}/{best[n] / best['gram']:<4.1f}" for n in names]
        print(f"{d:>9} {best['mean'] * 1e3:8.2f} {best['gram'] * 1e3:8.2f} " + " ".join(f"{c:>12}" for c in cells))
    print("cells: milliseconds / multiple of the Gram product")


def foolsgold_calls(candidates: torch.Tensor):
    """FoolsGold for every receiver of `candidates` (`[G, k + 1, d]`, own model first), through the
    batched engine's Aggregator: its batched path, and its peer-by-peer path (the instances
    wrapped so that it does not recognise them), which it took before."""
    g, m, d = candidates.shape
    ids = [bytes([i % 256, i // 256]) * 16 for i in range(g + m)]
    senders = range(g, g + m - 1)  # the same k senders for everyone: the histories' shape
    spec = AdapterSpec((TensorSpec("w", (d,)),))
    inboxes = {r: [Arrival(s, candidates[r, 1 + j], 0, 1) for j, s in enumerate(senders)] for r in range(g)}
    generators = [torch.Generator() for _ in range(g)]
    batched = Aggregator([FoolsGold() for _ in range(g)], spec, ids, generators)
    per_peer = Aggregator([_Opaque(FoolsGold()) for _ in range(g)], spec, ids, generators)
    vectors = candidates[:, 0].clone()
    return (lambda: batched(vectors, inboxes, lambda r: m - 1, [0] * g),
            lambda: per_peer(vectors, inboxes, lambda r: m - 1, [0] * g))


class _Opaque:
    """A rule the Aggregator does not recognise, so it calls it receiver by receiver."""

    def __init__(self, rule: Callable[[torch.Tensor, torch.Tensor, Meta], torch.Tensor]) -> None:
        self.rule = rule

    def __call__(self, own: torch.Tensor, others: torch.Tensor, meta: Meta) -> torch.Tensor:
        return self.rule(own, others, meta)


if __name__ == "__main__":
    main()
