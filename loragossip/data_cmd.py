"""`loragossip data split`: cut a workload's training pool into one private shard per peer."""

from __future__ import annotations

import argparse
from pathlib import Path

from loragossip.errors import CommandError
from loragossip.types import at_least_one, positive
from peer.partition import DISJOINT_PARTITIONERS


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("data", help="prepare peer data shards")
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    split = verbs.add_parser("split", help="write shard-NNN.safetensors files, one per peer",
                             description="Splits the training pool of the genesis workload (digits built in; "
                                         "text workloads read --workload-data) for `loragossip peer --data`.")
    split.add_argument("--genesis", type=Path, required=True, help="the network's genesis TOML")
    split.add_argument("--peers", type=at_least_one, required=True, help="number of shards")
    split.add_argument("--out", type=Path, required=True, help="output folder")
    split.add_argument("--partition", choices=DISJOINT_PARTITIONERS, default="iid")
    split.add_argument("--alpha", type=positive, default=0.5, help="dirichlet alpha (default 0.5)")
    split.add_argument("--seed", type=int, default=0)
    split.add_argument("--workload-data", type=Path, help="text workloads: folder with train.tsv/dev.tsv")
    split.set_defaults(run=_split)


def _split(args: argparse.Namespace) -> int:
    from peer.genesis import GenesisError, load_genesis
    from peer.shards import write_shards
    from peer.workloads import WorkloadError, build_workload

    try:
        workload = build_workload(load_genesis(args.genesis), args.workload_data)
        paths = write_shards(workload, args.out, args.peers, args.partition, alpha=args.alpha, seed=args.seed)
    except (GenesisError, WorkloadError, ValueError, OSError) as exc:
        raise CommandError(str(exc)) from exc
    print(f"wrote {len(paths)} {workload.name} shards ({args.partition}) to {args.out}: "
          f"{paths[0].name} ... {paths[-1].name}")
    return 0
