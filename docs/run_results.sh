#!/usr/bin/env bash
# Reproduces every number in docs/RESULTS.md. Outputs in runs/results/ and, for the tables over seeds, runs/sweeps/.
set -euo pipefail
cd "$(dirname "$0")/.."
L=".venv/bin/loragossip sim --no-progress"
O=runs/results
# 1. non-IID digits (Dirichlet 0.1), 32 peers, 4-regular, 60 lock-step rounds of K = 10 steps: every method at
#    five learning rates over seeds 1-3, the own-init setting, and seed 1 of the best methods as a figure
.venv/bin/loragossip sweep examples/sweeps/noniid.toml --set run.validation=0.2 --workers 2 --no-progress \
  --out runs/sweeps/noniid-validation
.venv/bin/loragossip sweep examples/sweeps/noniid.toml --workers 2 --no-progress --out runs/sweeps/noniid
.venv/bin/loragossip sweep examples/sweeps/noniid-confirm.toml --workers 2 --no-progress --out runs/sweeps/noniid-confirm
.venv/bin/loragossip sweep examples/sweeps/noniid-own-init.toml --workers 2 --no-progress --out runs/sweeps/noniid-own-init
$L examples/noniid.toml   --out $O/noniid-mean     --seed 1
$L examples/dfedsam.toml  --out $O/noniid-dfedsam  --seed 1
$L examples/momentum.toml --out $O/noniid-momentum --seed 1
$L examples/noniid.toml   --out $O/noniid-fedavg   --seed 1 --set run.baseline=fedavg --set genesis.training.lr=0.05
$L examples/noniid.toml   --out $O/noniid-central  --seed 1 --set run.baseline=central --set genesis.training.lr=0.01
.venv/bin/loragossip sim compare $O/noniid-mean $O/noniid-dfedsam $O/noniid-momentum $O/noniid-fedavg $O/noniid-central \
  --out docs/noniid.png
# 2. 25 % Sybil clones of one adversary: 4 rules x (no attack, label flip, boosted 10x, backdoor) x seeds 11-13;
#    the backdoor and the boosted flip over 8 seeds beside their floors, and on 8 held-out seeds; non-IID,
#    with the default probation and the paper's rule (probation 0)
.venv/bin/loragossip sweep examples/sweeps/sybil.toml --workers 2 --no-progress --out runs/sweeps/sybil-v3
.venv/bin/loragossip sweep examples/sweeps/sybil-seeds.toml --workers 2 --no-progress --out runs/sweeps/sybil-seeds
.venv/bin/loragossip sweep examples/sweeps/sybil-seeds.toml --workers 2 --no-progress --seeds 21-28 \
  --out runs/sweeps/sybil-seeds-heldout
.venv/bin/loragossip sweep examples/sweeps/sybil-dirichlet.toml --workers 2 --no-progress --out runs/sweeps/sybil-dirichlet-v3
.venv/bin/loragossip sweep examples/sweeps/sybil-dirichlet-paper.toml --workers 2 --no-progress \
  --out runs/sweeps/sybil-dirichlet-paper
.venv/bin/loragossip sweep examples/sweeps/sybil-ceiling.toml --workers 2 --no-progress --out runs/sweeps/sybil-ceiling
#    where asynchronous push gossip loses against lock-step gossip (seed 11, IID, mean, no attack)
S=(--threads 1 --seed 11 --set attack.kind=\"none\" --set genesis.aggregation.rule=\"mean\")
$L examples/sybil.toml "${S[@]}" --out $O/sybil-async-fanout3
$L examples/sybil.toml "${S[@]}" --set genesis.gossip.fanout=6 --out $O/sybil-async-fanout6
$L examples/sybil.toml "${S[@]}" --set run.mode=\"sync\" --set run.rounds=185 --set run.eval_every=37 --out $O/sybil-sync
$L examples/sybil.toml "${S[@]}" --set run.baseline=\"isolated\" --set run.rounds=185 --set run.eval_every=37 \
  --out $O/sybil-isolated
# 3. churn over seeds 3, 4, 5: 50 % leave at 1/3 and return at 2/3; 80 % unresponsive over the same span
.venv/bin/loragossip sweep examples/sweeps/churn.toml --workers 2 --no-progress --out runs/sweeps/churn
.venv/bin/loragossip sweep examples/sweeps/churn-ceiling.toml --workers 2 --no-progress --out runs/sweeps/churn-ceiling
# 5. Byzantine: every rule x (none, sign flip, Gaussian, ALIE, IPM) x seeds 1-3, lock-step
.venv/bin/loragossip sweep examples/sweeps/byzantine.toml --workers 2 --no-progress --out runs/sweeps/byzantine
.venv/bin/loragossip sweep examples/sweeps/byzantine-ceiling.toml --workers 2 --no-progress --out runs/sweeps/byzantine-ceiling
.venv/bin/loragossip sweep examples/sweeps/byzantine-async.toml --workers 2 --no-progress --out runs/sweeps/byzantine-async
.venv/bin/loragossip sweep examples/sweeps/byzantine-async-strength.toml --workers 2 --no-progress \
  --out runs/sweeps/byzantine-async-strength
.venv/bin/loragossip sweep examples/sweeps/byzantine-omniscient.toml --workers 2 --no-progress \
  --out runs/sweeps/byzantine-omniscient
# 9. scaling: 16, 64, 128 peers, gossip against FedAvg, isolated and the central ceiling, seeds 1-3
.venv/bin/loragossip sweep examples/sweeps/scaling.toml --workers 2 --no-progress --out runs/sweeps/scaling
# 8. a staleness discount in async gossip, seeds 1-3, with the references at the gossip runs' 124 rounds
for seed in 1 2 3; do
  for rule in mean staleness_mean; do
    $L examples/quickstart.toml --seed $seed --set genesis.aggregation.rule=\"$rule\" --out runs/staleness/$rule-s$seed
  done
  for baseline in fedavg isolated central; do
    $L examples/quickstart.toml --seed $seed --set run.baseline=\"$baseline\" --set run.rounds=124 \
      --out runs/staleness/$baseline-r124-s$seed
  done
done
# 4. reproducibility: the same config and seed twice
$L examples/quickstart.toml --out $O/repro-a --seed 42
$L examples/quickstart.toml --out $O/repro-b --seed 42
# 6, 7. SST-2 with SmolLM2 (make lm) and MiniLM (the minilm extra): docs/run_sst2.sh; then MiniLM per scheme at its
#    own learning rate (picked on a validation split, the 400 training sentences after the slice), 3 seeds
bash docs/run_sst2.sh
mkdir -p runs/data/sst2-val && head -2001 ../shared/data/sst2/train.tsv > runs/data/sst2-val/train.tsv
(head -1 ../shared/data/sst2/train.tsv; sed -n 2002,2401p ../shared/data/sst2/train.tsv) > runs/data/sst2-val/dev.tsv
.venv/bin/loragossip sweep examples/sweeps/minilm-lr.toml --workers 2 --no-progress --out runs/sweeps/minilm-lr
.venv/bin/loragossip sweep examples/sweeps/minilm.toml --workers 2 --no-progress --out runs/sweeps/minilm
