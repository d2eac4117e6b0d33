#!/usr/bin/env bash
# Reproduces every number in docs/RESULTS.md. Outputs in runs/results/ and, for the tables over seeds, runs/sweeps/.
set -euo pipefail
cd "$(dirname "$0")/.."
L=".venv/bin/loragossip sim --no-progress"
O=runs/results
# 1. non-IID digits (Dirichlet 0.1), 32 peers, 4-regular, 60 lock-step rounds of K = 10 steps
$L examples/noniid.toml  --out $O/noniid-mean
$L examples/noniid.toml  --out $O/noniid-vc      --set genesis.aggregation.rule=variance_corrected
$L examples/dfedsam.toml --out $O/noniid-dfedsam
$L examples/noniid.toml  --out $O/noniid-fedavg  --set run.baseline=fedavg
$L examples/noniid.toml  --out $O/own-init-mean  --set peers.init=own
$L examples/noniid.toml  --out $O/own-init-vc    --set peers.init=own --set genesis.aggregation.rule=variance_corrected
$L examples/dfedsam.toml --out $O/noniid-dfedsam-q4 --set genesis.training.gossip_steps=4
$L examples/noniid.toml  --out $O/noniid-mean-q4    --set genesis.training.gossip_steps=4
$L examples/dfedsam.toml --out $O/noniid-dfedsam-q8 --set genesis.training.gossip_steps=8
$L examples/dfedsam.toml --out $O/noniid-dfedsam-q16 --set genesis.training.gossip_steps=16
# 2. 25 % Sybil clones of one adversary: label flipping (plain and boosted 10x) and the backdoor
$L examples/sybil.toml --out $O/sybil-noattack  --set attack.kind=none
$L examples/sybil.toml --out $O/sybil-noattack-mean --set attack.kind=none --set genesis.aggregation.rule=mean
for rule in sybilwall mean krum median; do
  $L examples/sybil.toml --out $O/sybil-$rule --set genesis.aggregation.rule=$rule
  $L examples/sybil.toml --out $O/sybil-boost-$rule --set genesis.aggregation.rule=$rule --set 'attack.params={ boost = 10.0 }'
  $L examples/sybil.toml --out $O/backdoor-$rule --set genesis.aggregation.rule=$rule --set attack.kind=backdoor
done
# 3. churn over seeds 3, 4, 5: 50 % leave at 1/3 and return at 2/3; 80 % unresponsive over the same span
.venv/bin/loragossip sweep examples/sweeps/churn.toml --workers 2 --no-progress --out runs/sweeps/churn
# 4. reproducibility: the same config and seed twice
$L examples/quickstart.toml --out $O/repro-a --seed 42
$L examples/quickstart.toml --out $O/repro-b --seed 42
.venv/bin/loragossip sim compare $O/noniid-mean $O/noniid-vc $O/noniid-dfedsam $O/noniid-fedavg --out $O/noniid.png
.venv/bin/loragossip sim compare $O/sybil-noattack $O/sybil-sybilwall $O/sybil-mean $O/sybil-krum $O/sybil-median --out $O/sybil.png
.venv/bin/loragossip sim compare $O/sybil-noattack $O/backdoor-sybilwall $O/backdoor-mean $O/backdoor-krum $O/backdoor-median --out $O/backdoor.png
