#!/usr/bin/env bash
# docs/RESULTS.md sections 6 and 7: SST-2 with a real model, at the scale 2 CPU cores allow: a 2 000-sentence
# slice of SST-2's train.tsv shared by 8 peers and the first 200 dev sentences as the test set.
#   6. SmolLM2-135M-Instruct (needs `make lm`): 6 lock-step rounds of 5 local steps (batch 8). Learning rates per
#      scheme from a 20-step probe on one peer (ffa 3e-3, sb 1e-2, lora 1e-3; docs/RESULTS.md).
#   7. all-MiniLM-L6-v2 (needs the minilm extra), after the mean-pooling fix: 10 lock-step rounds of 5 AdamW steps
#      (batch 16, lr 1e-3 for every scheme), gossip and centralised FedAvg for each scheme. Each scheme at its own
#      learning rate over 3 seeds: examples/sweeps/minilm-lr.toml, then examples/sweeps/minilm.toml.
#   7, the central ceiling on 20 000 sentences and the full dev set, per scheme (`bash docs/run_sst2.sh central`;
#      about 17 minutes a run at 1 thread; two at a time on 2 cores): 600 steps of batch 32 on every linear layer,
#      warm-up over 30 steps, then cosine decay; ffa lr 3e-3 (seeds 1, 2), sb rank 32 and 64 at lr 1e-2 (64: seeds 1, 2);
#      lora seed 2 at a constant 1e-3; lora lr 1e-3 with cosine decay (seeds 1, 2).
# Outputs in runs/results/smollm2-* and runs/results/minilm-*. `bash docs/run_sst2.sh minilm` runs section 7 alone.
set -euo pipefail
cd "$(dirname "$0")/.."
SIM=".venv/bin/loragossip sim --no-progress"
O=runs/results
DATA="$PWD/runs/data/sst2-slice"
mkdir -p "$DATA"
head -2001 ../shared/data/sst2/train.tsv > "$DATA/train.tsv"
head -201 ../shared/data/sst2/dev.tsv > "$DATA/dev.tsv"
if [ "${1:-all}" = central ]; then
  BIG="$PWD/runs/data/sst2-20k"
  mkdir -p "$BIG" && head -20001 ../shared/data/sst2/train.tsv > "$BIG/train.tsv" && cp ../shared/data/sst2/dev.tsv "$BIG/"
  COSINE=(--set genesis.training.warmup_steps=30 --set genesis.training.decay_steps=570)
  central() {  # scheme, lr, rank, seed, out, then options of its own (the schedule)
    $SIM examples/sst2-minilm.toml --threads 1 --set "run.data=\"$BIG\"" --set run.mode=\"sync\" --set run.rounds=15 \
      --set genesis.adapter.scheme=\"$1\" --set genesis.adapter.rank="$3" --set genesis.training.lr="$2" \
      --set genesis.training.batch_size=32 --set run.eval_every=5 --set run.seed="$4" --set run.baseline=\"central\" \
      --set 'genesis.adapter.target_modules=["query","key","value","dense"]' "${@:6}" --out "$O/$5"
  }
  central ffa 0.003 8 1 minilm-central-ffa-all-cosine-lr003 "${COSINE[@]}" &
  central ffa 0.003 8 2 minilm-central-ffa-all-cosine-lr003-s2 "${COSINE[@]}"; wait
  central sb 0.01 32 1 minilm-central-sb-all-cosine-r32 "${COSINE[@]}" &
  central sb 0.01 64 1 minilm-central-sb-all-cosine-r64 "${COSINE[@]}"; wait
  central sb 0.01 64 2 minilm-central-sb-all-cosine-r64-s2 "${COSINE[@]}" &
  central lora 0.001 8 2 minilm-central-lora-all-s2; wait  # a constant rate
  central lora 0.001 8 1 minilm-central-lora-all-cosine "${COSINE[@]}" &
  central lora 0.001 8 2 minilm-central-lora-all-cosine-s2 "${COSINE[@]}"; wait
  exit 0
fi
if [ "${1:-all}" != minilm ]; then
  L="$SIM examples/sst2-smollm2.toml"
  S=(--set "run.data=\"$DATA\"" --set run.rounds=6 --set run.eval_every=6)
  $L --out $O/smollm2-ffa        "${S[@]}"
  $L --out $O/smollm2-ffa-fedavg "${S[@]}" --set run.baseline=fedavg
  $L --out $O/smollm2-ffa-central "${S[@]}" --set run.baseline=central
  $L --out $O/smollm2-sb         "${S[@]}" --set genesis.adapter.scheme=\"sb\" --set genesis.training.lr=0.01
  $L --out $O/smollm2-lora       "${S[@]}" --set genesis.adapter.scheme=\"lora\" --set genesis.training.lr=0.001
fi
L="$SIM examples/sst2-minilm.toml"
S=(--set "run.data=\"$DATA\"" --set run.mode=\"sync\" --set run.rounds=10 --set run.eval_every=10 --set genesis.training.lr=0.001)
for scheme in ffa sb lora; do
  $L --out $O/minilm-$scheme        "${S[@]}" --set genesis.adapter.scheme=\"$scheme\"
  $L --out $O/minilm-$scheme-fedavg "${S[@]}" --set genesis.adapter.scheme=\"$scheme\" --set run.baseline=fedavg
done
