"""The rules' batched forms (`rule.combine` over `[G, k + 1, d]`, as the batched engine calls them
for G receivers at once) next to two floors measured in the same run, in turn, best of each:

- `mean`: one pass over the candidates (what any rule must at least read);
- `gram`: one batched Gram product `c @ cᵀ` of every set (what an all-pairs rule must at least
  compute: Krum and Multi-Krum derive all their distances from it).

Columns are milliseconds per call and the rule's time as a multiple of the Gram product.
FoolsGold keeps one instance per receiver; its columns are the batched engine's `Aggregator`
(each instance records its pulls, one batched Gram product gives every weight) and the same G
instances called one by one, as the nodes engine calls them. SybilWall also keeps one instance
per receiver and the `Aggregator` calls it receiver by receiver (its records make each one's
history set its own); here each knows only its k senders, as FoolsGold's do.
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
from robust.sybilwall import SybilWall
from sim.batched.aggregate import Aggregator, Arrival

RULES = ["median", "trimmed_mean", "krum", "multikrum", "centered_clipping", "geometric_median"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=64, help="receivers aggregated in one call (default 64)")
    parser.add_argument("--k", type=int, default=4, help="updates each receiver holds (default 4)")
    args = parser.parse_args()
    torch.manual_seed(0)
    print(f"G = {args.groups} receivers, k + 1 = {args.k + 1} candidates each, torch threads {torch.get_num_threads()}")
    names = [*RULES, "foolsgold", "fg per peer", "sybilwall"]
    print(f"{'d':>9} {'mean ms':>8} {'gram ms':>8} " + " ".join(f"{name[:12]:>12}" for name in names))
    for d in (10_000, 100_000, 1_000_000):
        candidates = torch.randn(args.groups, args.k + 1, d)
        rounds = int(min(10, max(3, 0.05 / best_of(lambda c=candidates: c @ c.transpose(1, 2)))))
        fns = {"mean": lambda c=candidates: c.mean(dim=1), "gram": lambda c=candidates: c @ c.transpose(1, 2)}
        for name in RULES:
            rule = make(name, **({"f": 1} if "krum" in name else {}))
            fns[name] = lambda rule=rule, c=candidates: rule.combine(c)
        g = args.groups
        fns["foolsgold"] = aggregator_call(candidates, [FoolsGold() for _ in range(g)])
        fns["fg per peer"] = aggregator_call(candidates, [_Opaque(FoolsGold()) for _ in range(g)])  # as before batching
        fns["sybilwall"] = aggregator_call(candidates, [SybilWall() for _ in range(g)])
        best = best_of_interleaved(fns, rounds)
        cells = [f"{best[n] * 1e3:7.1f}/{best[n] / best['gram']:<4.1f}" for n in names]
        print(f"{d:>9} {best['mean'] * 1e3:8.2f} {best['gram'] * 1e3:8.2f} " + " ".join(f"{c:>12}" for c in cells))
    print("cells: milliseconds / multiple of the Gram product")


def aggregator_call(candidates: torch.Tensor, rules: list) -> Callable[[], None]:
    """One call of the batched engine's Aggregator over every receiver of `candidates`
    (`[G, k + 1, d]`, own model first), each receiver with its own rule instance from `rules` and
    the same k senders (the histories' shape)."""
    g, m, d = candidates.shape
    ids = [bytes([i % 256, i // 256]) * 16 for i in range(g + m)]
    senders = range(g, g + m - 1)
    spec = AdapterSpec((TensorSpec("w", (d,)),))
    inboxes = {r: [Arrival(s, candidates[r, 1 + j], 0, 1) for j, s in enumerate(senders)] for r in range(g)}
    aggregate = Aggregator(rules, spec, ids, [torch.Generator() for _ in range(g)])
    vectors = candidates[:, 0].clone()
    return lambda: aggregate(vectors, inboxes, lambda r: m - 1, [0] * g)


class _Opaque:
    """A rule the Aggregator does not recognise, so it calls it receiver by receiver."""

    def __init__(self, rule: Callable[[torch.Tensor, torch.Tensor, Meta], torch.Tensor]) -> None:
        self.rule = rule

    def __call__(self, own: torch.Tensor, others: torch.Tensor, meta: Meta) -> torch.Tensor:
        return self.rule(own, others, meta)


if __name__ == "__main__":
    main()
