"""`loragossip export SOURCE --out FOLDER`: a peer's adapter as a standard peft LoRA folder.

SOURCE is a daemon's state directory (its newest checkpoint; give the network's `--genesis`) or a
simulation's output folder (its `adapters.safetensors` and `genesis.toml`; the honest peers'
average unless `--peer N`).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from loragossip.errors import CommandError
from loragossip.types import non_negative_int

if TYPE_CHECKING:
    import torch

    from peer.genesis import Genesis


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "export", help="write a trained adapter as a peft folder (adapter_config.json + adapter_model.safetensors)",
        description="Exports a daemon's or a simulation's adapter so that plain transformers + peft load it: "
                    "PeftModel.from_pretrained(base_model, FOLDER). ffa and sb are written as the equivalent "
                    "plain LoRA.")
    parser.add_argument("source", type=Path, help="a daemon's --state-dir, or a simulation's --out folder")
    parser.add_argument("--out", type=Path, required=True, help="the folder to write")
    parser.add_argument("--genesis", type=Path,
                        help="the network's genesis (needed for a state directory; a simulation folder has its own)")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--peer", type=non_negative_int, help="simulation: export this peer's adapter")
    which.add_argument("--average", action="store_true",
                       help="simulation: the honest peers' average (the default)")
    parser.add_argument("--workload-data", type=Path,
                        help="text workloads: folder with train.tsv/dev.tsv (a simulation folder records its own)")
    parser.add_argument("--force", action="store_true", help="write into an existing, non-empty --out folder")
    parser.set_defaults(run=_export)


def _export(args: argparse.Namespace) -> int:
    from peer.export import export_adapter
    from peer.genesis import GenesisError, load_genesis
    from peer.workloads import WorkloadError, build_workload

    if args.out.exists() and (not args.out.is_dir() or any(args.out.iterdir())) and not args.force:
        raise CommandError(f"{args.out} exists and is not an empty folder; pass --force to write into it")
    try:
        if (args.source / "adapters.safetensors").exists():
            vector, genesis_path, data, what = _from_simulation(args)
            genesis = load_genesis(genesis_path)
        elif (args.source / "checkpoints").is_dir():
            if args.genesis is None:
                raise CommandError("a daemon's state directory needs --genesis (the network's genesis file)")
            genesis = load_genesis(args.genesis)
            vector, data, what = _from_state_dir(args, genesis)
        else:
            raise CommandError(f"{args.source}: neither a simulation's output (adapters.safetensors) nor a "
                               "daemon's state directory (checkpoints/)")
        workload = build_workload(genesis, args.workload_data or data)
        export_adapter(vector, genesis, workload, args.out)
    except (GenesisError, WorkloadError, ValueError, OSError) as exc:
        raise CommandError(str(exc)) from exc
    print(f"wrote {what} to {args.out} (scheme {genesis.adapter.scheme} as plain LoRA, rank {genesis.adapter.rank}, "
          f"base {genesis.model.base}); load it with PeftModel.from_pretrained(base_model, {str(args.out)!r})")
    return 0


def _from_simulation(args: argparse.Namespace) -> tuple[torch.Tensor, Path, Path | None, str]:
    from sim.adapters_file import GENESIS, read_adapters

    vectors, honest, data = read_adapters(args.source)
    genesis = args.genesis or args.source / GENESIS
    if args.peer is not None:
        if args.peer >= len(honest):
            raise CommandError(f"--peer {args.peer}: the simulation has peers 0..{len(honest) - 1}")
        return vectors[args.peer], genesis, data, f"peer {args.peer}'s adapter"
    chosen = [i for i, h in enumerate(honest) if h]
    if not chosen:
        raise CommandError(f"{args.source}: the simulation has no honest peer to average; use --peer N")
    return vectors[chosen].mean(dim=0), genesis, data, f"the average of {len(chosen)} honest peers' adapters"


def _from_state_dir(args: argparse.Namespace, genesis: Genesis) -> tuple[torch.Tensor, Path | None, str]:
    from peer.checkpoint import CheckpointStore

    if args.peer is not None or args.average:
        raise CommandError("--peer and --average choose among a simulation's peers; a state directory has one")
    loaded = CheckpointStore(args.source / "checkpoints").load()
    if loaded is None or "adapter" not in loaded[0]:
        raise CommandError(f"{args.source}: no readable checkpoint with an adapter")
    tensors, state = loaded
    network = state.get("network_id")
    expected = genesis.network_id.hex()
    if isinstance(network, str) and network != expected:
        raise CommandError(f"the checkpoint belongs to network {network[:12]}..., the genesis {args.genesis} "
                           f"names {expected[:12]}...")
    return tensors["adapter"], None, f"the adapter of round {state.get('round', '?')}"

