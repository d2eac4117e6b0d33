#!/usr/bin/env bash
# docs/RESULTS.md section 7: all-MiniLM-L6-v2 on SST-2 (needs the minilm extra) after the mean-pooling fix, the
# same slice as section 6 (2 000 train sentences shared by 8 peers, the first 200 dev sentences), 10 lock-step
# rounds of 5 AdamW steps (batch 16, lr 1e-3, the example's), gossip and centralised FedAvg for each scheme.
set -euo pipefail
cd "$(dirname "$0")/.."
L=".venv/bin/loragossip sim --no-progress examples/sst2-minilm.toml"
O=runs/results
DATA="$PWD/runs/data/sst2-slice"
mkdir -p "$DATA"
head -2001 ../shared/data/sst2/train.tsv > "$DATA/train.tsv"
head -201 ../shared/data/sst2/dev.tsv > "$DATA/dev.tsv"
S=(--set "run.data=\"$DATA\"" --set run.mode=\"sync\" --set run.rounds=10 --set run.eval_every=10)
for scheme in ffa sb lora; do
  $L --out $O/minilm-$scheme        "${S[@]}" --set genesis.adapter.scheme=\"$scheme\"
  $L --out $O/minilm-$scheme-fedavg "${S[@]}" --set genesis.adapter.scheme=\"$scheme\" --set run.baseline=fedavg
done
