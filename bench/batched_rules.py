"""The rules' batched forms (`rule.combine` over `[G, k + 1, d]`, as the batched engine calls them
for G receivers at once) next to two floors measured in the same run, in turn, best of each:

- `mean`: one pass over the candidates (what any rule must at least read);
- `gram`: one batched Gram product `c @ cᵀ` of every set (what an all-pairs rule must at least
  compute: Krum and Multi-Krum derive all their distances from it).

Columns are milliseconds per call and the rule's time as a multiple of the Gram product.
Run: python -m bench.batched_rules [--groups 64] [--k 4]
"""

from __future__ import annotations

import argparse

import torch

from bench.timing import best_of, best_of_interleaved
from robust import make

RULES = ["median", "trimmed_mean", "krum", "multikrum", "centered_clipping", "geometric_median"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=64, help="receivers aggregated in one call (default 64)")
    parser.add_argument("--k", type=int, default=4, help="updates each receiver holds (default 4)")
    args = parser.parse_args()
    torch.manual_seed(0)
    print(f"G = {args.groups} receivers, k + 1 = {args.k + 1} candidates each, torch threads {torch.get_num_threads()}")
    print(f"{'d':>9} {'mean ms':>8} {'gram ms':>8} " + " ".join(f"{name[:12]:>12}" for name in RULES))
    for d in (10_000, 100_000, 1_000_000):
        candidates = torch.randn(args.groups, args.k + 1, d)
        rounds = int(min(10, max(3, 0.05 / best_of(lambda c=candidates: c @ c.transpose(1, 2)))))
        fns = {"mean": lambda c=candidates: c.mean(dim=1), "gram": lambda c=candidates: c @ c.transpose(1, 2)}
        for name in RULES:
            rule = make(name, **({"f": 1} if "krum" in name else {}))
            fns[name] = lambda rule=rule, c=candidates: rule.combine(c)
        best = best_of_interleaved(fns, rounds)
        cells = [f"{best[n] * 1e3:7.1f}/{best[n] / best['gram']:<4.1f}" for n in RULES]
        print(f"{d:>9} {best['mean'] * 1e3:8.2f} {best['gram'] * 1e3:8.2f} " + " ".join(f"{c:>12}" for c in cells))
    print("cells: milliseconds / multiple of the Gram product")


if __name__ == "__main__":
    main()
