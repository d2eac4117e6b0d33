"""`loragossip genesis new|show`: write the documented default genesis, or print one with its id."""

from __future__ import annotations

import argparse
from pathlib import Path

from loragossip.errors import CommandError


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("genesis", help="create or inspect a network's genesis file",
                            description="A genesis file pins everything peers of one network share; "
                                        "its SHA-256 is the network id.")
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    new = verbs.add_parser("new", help="write the documented default genesis")
    new.add_argument("path", type=Path, nargs="?", default=Path("genesis.toml"), help="where (default ./genesis.toml)")
    new.add_argument("--force", action="store_true", help="overwrite an existing file")
    new.set_defaults(run=_new)
    show = verbs.add_parser("show", help="validate a genesis and print it with its network id")
    show.add_argument("path", type=Path)
    show.set_defaults(run=_show)


def _new(args: argparse.Namespace) -> int:
    from peer.genesis import default_genesis_text, load_genesis

    if args.path.is_dir():
        raise CommandError(f"{args.path} is a directory; give a file name, e.g. {args.path / 'genesis.toml'}")
    if args.path.exists() and not args.force:
        raise CommandError(f"{args.path} exists; pass --force to overwrite")
    if not args.path.parent.is_dir():
        raise CommandError(f"cannot write {args.path}: the folder {args.path.parent} does not exist")
    try:
        args.path.write_text(default_genesis_text(), encoding="utf-8")
    except OSError as exc:
        raise CommandError(f"cannot write {args.path}: {exc.strerror or exc}") from exc
    genesis = load_genesis(args.path)
    print(f"wrote {args.path}\nnetwork id {genesis.network_id.hex()}")
    return 0


def _show(args: argparse.Namespace) -> int:
    from peer.genesis import GenesisError, load_genesis, to_toml

    try:
        genesis = load_genesis(args.path)
    except GenesisError as exc:
        raise CommandError(str(exc)) from exc
    print(f"# network id {genesis.network_id.hex()}")
    print(to_toml(genesis), end="")
    return 0
