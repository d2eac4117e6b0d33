"""How many peers one process holds: the batched engine's peak memory at scale (issue 13).

    python -m bench.scale digits              10 000 digits peers, 10 lock-step rounds (bar: < 4 GB)
    python -m bench.scale minilm --data DIR   256 MiniLM SST-2 peers (ffa, rank 8), 2 rounds
    python -m bench.scale nodes-minilm --data DIR   16 MiniLM peers in the nodes engine, 1 round

Each case runs alone in this process, so the peak resident set size (`ru_maxrss`) is its own.
For MiniLM the bar is one base model + N × (adapter + optimizer state) + 1.5 GB; the script
prints each term. MiniLM needs the `minilm` extra; DIR holds SST-2's train.tsv and dev.tsv (a
short dev.tsv keeps the evaluation of 256 peers on CPU to minutes). `nodes-minilm` builds real
`PeerNode`s, each with its own peft model: with one frozen base per process they share the base's
tensors, so the peak grows by an adapter per peer, not by a MiniLM (issue 14).
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

from bench.batched import workload
from sim.batched.engine import BatchedSimulation
from sim.config import SimConfig, load_config, parse_config
from sim.runner import Simulation

GB = 1 << 30
MINILM_EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "sst2-minilm.toml"


def digits(peers: int, rounds: int) -> SimConfig:
    """The workload of `bench.batched` with overlapping shards (the pool has 1 294 samples)."""
    raw = workload(rounds, rounds)
    raw["run"]["name"] = "scale-digits"
    raw["peers"].update(count=peers, partition="sampled", samples_per_peer=16)
    return parse_config(raw)


def minilm(peers: int, rounds: int, data: str) -> SimConfig:
    """`examples/sst2-minilm.toml` in lock-step with one local step."""
    return load_config(MINILM_EXAMPLE, [
        "run.name=\"scale-minilm\"", "run.mode=\"sync\"", f"run.rounds={rounds}", f"run.eval_every={rounds}",
        f"run.data={json.dumps(str(Path(data).resolve()))}", f"peers.count={peers}",
        "genesis.training.local_steps=1"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("case", choices=("digits", "minilm", "nodes-minilm"))
    parser.add_argument("--peers", type=int)
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--data", default="../shared/data/sst2")
    args = parser.parse_args()
    if args.case == "digits":
        config = digits(args.peers or 10_000, args.rounds or 10)
    elif args.case == "minilm":
        config = minilm(args.peers or 256, args.rounds or 2, args.data)
    else:
        config = minilm(args.peers or 16, args.rounds or 1, args.data)
    started = time.perf_counter()
    sim = (Simulation if args.case == "nodes-minilm" else BatchedSimulation)(config, progress=True)
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
