"""The batched engine against the nodes engine on one workload, measured side by side in one run.

Workload (issue 13): 100 digits peers, IID, random 4-regular graph, lock-step rounds, one local
SGD step of batch 16, fp16 gossip, mean; once with every peer evaluated every round and once
with evaluation only at the end. Runs alternate between the engines (best of `--repeat`), so a
slow spell of a shared machine hits both alike.

Run: python -m bench.batched [--rounds 50] [--repeat 2]
"""

from __future__ import annotations

import argparse
import time

from sim.batched.engine import BatchedSimulation
from sim.config import parse_config
from sim.runner import Simulation


def workload(rounds: int, eval_every: int) -> dict:
    return {
        "run": {"name": "bench-batched", "seed": 1, "mode": "sync", "rounds": rounds, "eval_every": eval_every},
        "peers": {"count": 100, "partition": "iid", "step_seconds": 0.0},
        "topology": {"graph": "regular", "degree": 4},
        "genesis": {"training": {"optimizer": "sgd", "lr": 0.05, "local_steps": 1, "batch_size": 16},
                    "gossip": {"codec": "fp16"}, "aggregation": {"rule": "mean"}},
    }


def timed(engine: type, config) -> tuple[float, dict]:
    started = time.perf_counter()
    summary = engine(config, progress=False).run()
    return time.perf_counter() - started, summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    print(f"100 digits peers, {args.rounds} lock-step rounds, 1 SGD step of 16 (wall time includes building)")
    print(f"{'evaluation':<22}{'nodes s':>9}{'batched s':>11}{'ratio':>8}{'nodes n-r/s':>13}{'batched n-r/s':>15}"
          f"{'acc nodes':>11}{'acc batched':>13}")
    for label, every in (("every round", 1), ("at the end only", args.rounds)):
        config = parse_config(workload(args.rounds, every))
        best = {"nodes": float("inf"), "batched": float("inf")}
        summaries = {}
        for _ in range(args.repeat):
            for name, engine in (("nodes", Simulation), ("batched", BatchedSimulation)):
                seconds, summaries[name] = timed(engine, config)
                best[name] = min(best[name], seconds)
        node_rounds = 100 * args.rounds
        print(f"{label:<22}{best['nodes']:>9.2f}{best['batched']:>11.2f}{best['nodes'] / best['batched']:>7.1f}x"
              f"{node_rounds / best['nodes']:>13.0f}{node_rounds / best['batched']:>15.0f}"
              f"{summaries['nodes']['final_honest_mean_accuracy']:>11.3f}"
              f"{summaries['batched']['final_honest_mean_accuracy']:>13.3f}")


if __name__ == "__main__":
    main()
