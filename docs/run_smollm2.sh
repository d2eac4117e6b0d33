#!/usr/bin/env bash
# docs/RESULTS.md section 6: SST-2 with SmolLM2-135M-Instruct (needs `make lm`), at the scale 2 CPU cores allow:
# a 2 000-sentence slice of SST-2's train.tsv shared by 8 peers and the first 200 dev sentences as the test set,
# 6 lock-step rounds of 5 local steps (batch 8). Learning rates per scheme from a 20-step probe on one peer
# (ffa 3e-3, sb 1e-2, lora 1e-3; docs/RESULTS.md). Outputs in runs/results/smollm2-*.
set -euo pipefail
cd "$(dirname "$0")/.."
L=".venv/bin/loragossip sim --no-progress examples/sst2-smollm2.toml"
O=runs/results
DATA="$PWD/runs/data/sst2-slice"
mkdir -p "$DATA"
head -2001 ../shared/data/sst2/train.tsv > "$DATA/train.tsv"
head -201 ../shared/data/sst2/dev.tsv > "$DATA/dev.tsv"
S=(--set "run.data=\"$DATA\"" --set run.rounds=6 --set run.eval_every=6)
$L --out $O/smollm2-ffa        "${S[@]}"
$L --out $O/smollm2-ffa-fedavg "${S[@]}" --set run.baseline=fedavg
$L --out $O/smollm2-sb         "${S[@]}" --set genesis.adapter.scheme=\"sb\" --set genesis.training.lr=0.01
$L --out $O/smollm2-lora       "${S[@]}" --set genesis.adapter.scheme=\"lora\" --set genesis.training.lr=0.001
