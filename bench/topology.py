"""A 10 000-node graph with its mixing matrix and spectral gap, and one churn hour for 10 000
peers, in seconds. Run: python -m bench.topology"""

from __future__ import annotations

import time

from topology import churn, graphs
from topology.mixing import metropolis_hastings, spectral_gap


def timed(label: str, fn):
    start = time.perf_counter()
    value = fn()
    print(f"{label:<55} {time.perf_counter() - start:7.2f} s")
    return value


def main() -> None:
    n = 10_000
    for name, build in (("random 8-regular", lambda: graphs.regular(n, 8, seed=0)),
                        ("watts_strogatz k=8", lambda: graphs.watts_strogatz(n, 8, 0.1, seed=0)),
                        ("exponential", lambda: graphs.exponential(n))):
        graph = timed(f"{name} graph, n = {n}", build)
        w = timed(f"  Metropolis-Hastings matrix ({len(graph.edges())} edges)", lambda g=graph: metropolis_hastings(g))
        gap = timed("  spectral gap", lambda w=w: spectral_gap(w))
        print(f"  gap = {gap:.5f}")
    events = timed(f"one churn hour, {n} peers (Weibull sessions, mean 10 min)",
                   lambda: churn.sessions(n, 3600, distribution="weibull", mean_session=600, seed=0))
    print(f"  {len(events)} events")


if __name__ == "__main__":
    main()
