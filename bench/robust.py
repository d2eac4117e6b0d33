"""Time of each aggregation rule for n in {8, 32, 128} and d in {1e5, 1e6}, next to one
[n,d] x [d,n] matrix product (the floor for all-pairs rules) in the same run.
Run: python -m bench.robust"""

from __future__ import annotations

import torch

from bench.timing import best_of
from robust import Meta, make

ALL_PAIRS = {"krum", "multikrum", "foolsgold", "sybilwall"}
RULES = ["mean", "metropolis", "median", "trimmed_mean", "geometric_median", "centered_clipping",
         "variance_corrected", "krum", "multikrum", "foolsgold", "sybilwall"]


def main() -> None:
    torch.manual_seed(0)
    print(f"{'n':>4} {'d':>8} {'gram ms':>8} " + " ".join(f"{r[:10]:>10}" for r in RULES))
    worst = 0.0
    for d in (100_000, 1_000_000):
        for n in (8, 32, 128):
            own, others = torch.randn(d), torch.randn(n, d)
            senders = tuple(i.to_bytes(38, "little") for i in range(n))
            floor = best_of(lambda others=others: others @ others.T)
            cells = []
            for name in RULES:
                rule = make(name)
                seconds = best_of(lambda rule=rule, own=own, others=others, senders=senders:
                                  rule(own, others, Meta(senders=senders)), repeat=3)
                if name in ALL_PAIRS:
                    worst = max(worst, seconds / floor)
                cells.append(f"{seconds / floor:>9.1f}x")
            print(f"{n:>4} {d:>8} {floor * 1e3:>8.2f} " + " ".join(cells))
    print(f"\nworst all-pairs rule / Gram floor: {worst:.2f}x (target <= 3x)")


if __name__ == "__main__":
    main()
