"""Best-of-n wall timing: the minimum is the least disturbed by a shared, noisy machine."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping


def best_of(fn: Callable[[], object], repeat: int = 5, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def best_of_interleaved(fns: Mapping[str, Callable[[], object]], rounds: int) -> dict[str, float]:
    """Best-of-`rounds` for several functions measured in turn within each round, so a slow
    spell of a shared machine hits all of them alike and ratios between them stay fair."""
    for fn in fns.values():
        fn()
    best = dict.fromkeys(fns, float("inf"))
    for _ in range(rounds):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - start)
    return best
