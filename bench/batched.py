"""The batched engine against the nodes engine on one workload, measured side by side in one run.

Workload (issue 13): 100 digits peers, IID, random 4-regular graph, one local SGD step of batch
16, fp16 gossip, mean; once with every peer evaluated every round (async: every virtual second)
and once with evaluation only at the end. Lock-step: `--rounds` rounds. Async: `--duration`
virtual seconds of free-running peers (speeds 0.5 to 1.5, 50 ms per step at speed 1, the default
link with jitter). Runs alternate between the engines (best of `--repeat`), so a slow spell of
a shared machine hits both alike.

Run: python -m bench.batched [--mode sync|async|both] [--rounds 50] [--duration 20] [--repeat 2]
"""

from __future__ import annotations

import argparse
import time

from sim.batched.engine import BatchedSimulation
from sim.config import parse_config
from sim.runner import Simulation


def workload(run: dict) -> dict:
    return {
        "run": {"name": "bench-batched", "seed": 1, **run},
        "peers": {"count": 100, "partition": "iid", "step_seconds": 0.0 if run["mode"] == "sync" else 0.05},
        "topology": {"graph": "regular", "degree": 4},
        "genesis": {"training": {"optimizer": "sgd", "lr": 0.05, "local_steps": 1, "batch_size": 16},
                    "gossip": {"codec": "fp16"}, "aggregation": {"rule": "mean"}},
    }


def timed(engine: type, config) -> tuple[float, dict]:
    started = time.perf_counter()
    summary = engine(config, progress=False).run()
    return time.perf_counter() - started, summary


def compare(label: str, run: dict, repeat: int) -> None:
    config = parse_config(workload(run))
    best = {"nodes": float("inf"), "batched": float("inf")}
    summaries = {}
    for _ in range(repeat):
        for name, engine in (("nodes", Simulation), ("batched", BatchedSimulation)):
            seconds, summaries[name] = timed(engine, config)
            best[name] = min(best[name], seconds)
    rounds = {name: s["peer_rounds"] for name, s in summaries.items()}
    print(f"{label:<30}{best['nodes']:>9.2f}{best['batched']:>11.2f}{best['nodes'] / best['batched']:>7.1f}x"
          f"{rounds['nodes'] / best['nodes']:>13.0f}{rounds['batched'] / best['batched']:>15.0f}"
          f"{summaries['nodes']['final_honest_mean_accuracy']:>11.3f}"
          f"{summaries['batched']['final_honest_mean_accuracy']:>13.3f}"
          f"{rounds['nodes']:>11}{rounds['batched']:>9}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=("sync", "async", "both"), default="both")
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    print("100 digits peers, 1 SGD step of 16 a round (wall time includes building)")
    print(f"{'run, evaluation':<30}{'nodes s':>9}{'batched s':>11}{'ratio':>8}{'nodes n-r/s':>13}"
          f"{'batched n-r/s':>15}{'acc nodes':>11}{'acc batched':>13}{'n-r nodes':>11}{'batched':>9}")
    if args.mode in ("sync", "both"):
        for label, every in (("lock-step, every round", 1), ("lock-step, at the end only", args.rounds)):
            compare(label, {"mode": "sync", "rounds": args.rounds, "eval_every": every}, args.repeat)
    if args.mode in ("async", "both"):
        for label, every in (("async, every second", 1.0), ("async, at the end only", args.duration)):
            compare(label, {"mode": "async", "duration": args.duration, "eval_every": every}, args.repeat)


if __name__ == "__main__":
    main()
