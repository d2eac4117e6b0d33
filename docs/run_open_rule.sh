#!/usr/bin/env bash
# Reproduces the rule table of docs/OPEN-NETWORK.md (about 15 minutes on 2 CPU cores).
# Five rules, without attack and with 2 of 16 identities poisoning (sign flip x4, Gaussian
# noise sigma = 1), 3 seeds each; two runs at a time.
set -euo pipefail
cd "$(dirname "$0")/.."
O=runs/open
for seed in 1 2 3; do
  for rule in mean trimmed_mean median centered_clipping geometric_median; do
    echo "--seed $seed --out $O/$rule-none-s$seed --set genesis.aggregation.rule=$rule"
    echo "--seed $seed --out $O/$rule-sign_flip-s$seed --set genesis.aggregation.rule=$rule --set attack.kind=sign_flip"
    echo "--seed $seed --out $O/$rule-gaussian-s$seed --set genesis.aggregation.rule=$rule --set attack.kind=gaussian" \
         "--set attack.params={sigma=1.0}"
  done
done | xargs -P 2 -L 1 .venv/bin/loragossip sim --no-progress examples/open.toml
.venv/bin/python - "$O" <<'PY'
import json, statistics, sys
from pathlib import Path
runs = {}
for summary in Path(sys.argv[1]).glob("*/summary.json"):
    rule_attack = summary.parent.name.rsplit("-s", 1)[0]
    runs.setdefault(rule_attack, []).append(json.loads(summary.read_text())["final_honest_mean_accuracy"])
attacks = ["none", "sign_flip", "gaussian"]
rules = sorted({k.rsplit("-", 1)[0] for k in runs}, key=lambda r: -statistics.mean(runs.get(f"{r}-none", [0])))
print("| rule | " + " | ".join(attacks) + " |\n|---|" + "---|" * len(attacks))
for rule in rules:
    cells = []
    for attack in attacks:
        values = runs.get(f"{rule}-{attack}", [])
        cells.append(f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}" if len(values) > 1 else "-")
    print(f"| {rule} | " + " | ".join(cells) + " |")
PY
