"""Time of each aggregation rule for n in {8, 32, 128} and d in {1e5, 1e6}, next to one
[n,d] x [d,n] matrix product (`others @ others.T`, the floor for all-pairs rules) in the same
run, measured in turn with the rules, round after round, best of each (3 to 15 rounds).
`sliced ms` is the same product as the rules compute it (`robust.pairwise.gram`). `history`
is the four tensor passes any history rule (FoolsGold, SybilWall) makes, alone: add the pulls,
subtract `own`, the Gram product, the weighted mix; what those rules cost beyond it is their
own bookkeeping.
Run: python -m bench.robust"""

from __future__ import annotations

from collections.abc import Callable

import torch

from bench.timing import best_of, best_of_interleaved
from robust import Meta, make
from robust.mean import mix_with_own
from robust.pairwise import gram

ALL_PAIRS = {"krum", "multikrum", "foolsgold", "sybilwall"}
RULES = ["mean", "metropolis", "median", "trimmed_mean", "geometric_median", "centered_clipping",
         "variance_corrected", "krum", "multikrum", "foolsgold", "sybilwall"]


def history_passes(own: torch.Tensor, others: torch.Tensor) -> Callable[[], torch.Tensor]:
    """The passes of a history rule over a history of its own, without its bookkeeping."""
    history = torch.zeros_like(others)
    weights = torch.ones(others.shape[0])

    def run() -> torch.Tensor:
        history.add_(others).sub_(own)
        gram(history)
        return mix_with_own(own, 1.0, others, weights)

    return run


def main() -> None:
    torch.manual_seed(0)
    print(f"{'n':>4} {'d':>8} {'gram ms':>8} {'sliced ms':>9} {'history':>8} "
          + " ".join(f"{r[:10]:>10}" for r in RULES))
    worst = 0.0
    for d in (100_000, 1_000_000):
        for n in (8, 32, 128):
            own, others = torch.randn(d), torch.randn(n, d)
            senders = tuple(i.to_bytes(38, "little") for i in range(n))
            rounds = int(min(15, max(3, 0.01 / best_of(lambda others=others: others @ others.T))))
            fns = {"floor": lambda others=others: others @ others.T, "sliced": lambda others=others: gram(others),
                   "history": history_passes(own, others)}
            meta = Meta(senders=senders)
            for name in RULES:
                rule = make(name)
                fns[name] = lambda rule=rule, own=own, others=others, meta=meta: rule(own, others, meta)
            best = best_of_interleaved(fns, rounds)
            floor, sliced = best["floor"], best["sliced"]
            cells = []
            for name in RULES:
                if name in ALL_PAIRS:
                    worst = max(worst, best[name] / floor)
                cells.append(f"{best[name] / floor:>9.1f}x")
            print(f"{n:>4} {d:>8} {floor * 1e3:>8.2f} {sliced * 1e3:>9.2f} {best['history'] / floor:>7.1f}x "
                  + " ".join(cells))
    print(f"\nworst all-pairs rule / Gram floor: {worst:.2f}x (target <= 3x)")


if __name__ == "__main__":
    main()
