"""`loragossip demo`: the quickstart simulation on the built-in digits workload (what `make demo` runs)."""

from __future__ import annotations

import argparse
from pathlib import Path

from loragossip.errors import CommandError

QUICKSTART = Path(__file__).resolve().parents[1] / "examples" / "quickstart.toml"  # loragossip/ sits at the top


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("demo", help="run the quickstart simulation (16 digits peers, 14 s on 2 idle cores)",
                            description="Runs examples/quickstart.toml: 16 peers on a 4-regular graph, "
                                        "Dirichlet non-IID digits, gossip averaging, on the virtual clock.")
    parser.add_argument("--out", type=Path, default=Path("runs/quickstart"), help="output folder")
    parser.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    from sim.config import load_config
    from sim.experiment import run_experiment

    if not QUICKSTART.exists():
        raise CommandError(f"{QUICKSTART} not found: run the demo from a source checkout (make demo)")
    config = load_config(QUICKSTART)
    print(f"loragossip demo: {config.peers.count} peers, {config.topology.graph} graph, "
          f"{config.peers.partition} data, rule {config.genesis.aggregation.rule}, "
          f"{config.run.duration:.0f} virtual seconds")
    summary = run_experiment(config, args.out)
    from loragossip.sim_cmd import _print_summary

    _print_summary(summary, args.out)
    return 0
