"""Entry point of `loragossip`: builds the parser from the subcommand modules and dispatches."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import NoReturn

from loragossip import (
    dashboard_cmd,
    data_cmd,
    demo_cmd,
    export_cmd,
    genesis_cmd,
    peer_cmd,
    sim_cmd,
    sweep_cmd,
    testnet_cmd,
)
from loragossip.errors import CommandError

COMMANDS = (demo_cmd, sim_cmd, sweep_cmd, peer_cmd, testnet_cmd, dashboard_cmd, genesis_cmd, data_cmd, export_cmd)


class OneLineParser(argparse.ArgumentParser):
    """A usage error is one line that names the option (argparse would print the whole usage first);
    subcommand parsers inherit this class."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="loragossip",
        description="Decentralized gossip learning of LoRA adapters: run a peer, simulate a network, "
                    "join a testnet.",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMANDS:
        module.register(sub)
    return parser


def build_compare_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="loragossip sim compare")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    sim_cmd.add_compare_arguments(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # `sim CONFIG` and `sim compare RUN_DIR...` share a first word but not their arguments: argparse
    # cannot hold a positional and a subcommand in one parser, so the second form has its own
    compare = argv[:2] == ["sim", "compare"]
    args = build_compare_parser().parse_args(argv[2:]) if compare else build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING - 10 * min(args.verbose, 2),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.run(args) or 0)
    except CommandError as exc:
        print(f"loragossip {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130

