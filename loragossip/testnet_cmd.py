"""`loragossip testnet up|join|status|down`: a local network of peer processes on loopback."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from loragossip.dashboard_cmd import add_serve_arguments, serve
from loragossip.errors import CommandError
from loragossip.peer_cmd import add_peer_arguments, options_from, peer_command_line, run_daemon, settings_from
from loragossip.types import at_least_one, non_negative, positive
from peer.partition import DISJOINT_PARTITIONERS


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("testnet", help="start, join, inspect and stop a local testnet",
                            description="A bootstrap peer and N peers as processes on 127.0.0.1, with their "
                                        "genesis, keys, data shards, state and logs in one directory.")
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")

    p_up = verbs.add_parser("up", help="start a bootstrap peer and N peers; print how to join")
    p_up.add_argument("--peers", type=at_least_one, default=3, help="peers besides the bootstrap peer (default 3)")
    p_up.add_argument("--transport", choices=("libp2p", "mqtt"), default="libp2p",
                      help="mqtt: the bootstrap peer hosts an embedded broker (default %(default)s)")
    p_up.add_argument("--genesis", type=Path, help="genesis TOML (default: the documented default genesis)")
    p_up.add_argument("--partition", choices=DISJOINT_PARTITIONERS, default="iid",
                      help="how the workload's pool is split among the peers (default iid)")
    p_up.add_argument("--alpha", type=positive, default=0.5, help="dirichlet alpha (default 0.5)")
    p_up.add_argument("--round-seconds", type=non_negative, default=1.0, help="minimum round length (default 1)")
    p_up.add_argument("--init", choices=("shared", "own"), default="shared", help="trainable-part init")
    p_up.add_argument("--settings", type=Path, metavar="FILE",
                      help="every peer's timeouts and limits (`loragossip peer --settings`; see --print-settings)")
    again = p_up.add_mutually_exclusive_group()
    again.add_argument("--resume", dest="previous", action="store_const", const="resume", default="refuse",
                       help="a stopped testnet in --dir: restart its peers from their checkpoints")
    again.add_argument("--fresh", dest="previous", action="store_const", const="fresh",
                       help="a stopped testnet in --dir: delete its keys, checkpoints and logs, start over")
    p_up.add_argument("--tls", action="store_true",
                      help="mqtt: the broker speaks TLS (mqtts://) with a self-signed certificate")
    _add_dir(p_up)
    p_up.set_defaults(run=_up)

    p_join = verbs.add_parser("join", help="run a peer that joins a testnet (foreground unless --background)",
                              description="Joins the network named by --genesis through --bootstrap; both "
                                          "default to those of the testnet in --dir.")
    add_peer_arguments(p_join, joining=True)
    p_join.add_argument("--background", action="store_true", help="start it as a process of the testnet")
    _add_dir(p_join)
    p_join.set_defaults(run=_join)

    p_status = verbs.add_parser("status", help="a table of every peer of the testnet")
    p_status.add_argument("--json", action="store_true", help="print the raw status objects")
    p_status.add_argument("--watch", type=positive, nargs="?", const=2.0, metavar="SECONDS",
                          help="redraw the table every SECONDS (default 2) until Ctrl-C")
    _add_dir(p_status)
    p_status.set_defaults(run=_status)

    p_dash = verbs.add_parser("dashboard", help="a live web page of the testnet (as `loragossip dashboard DIR`)",
                              description="Serves a page on loopback that redraws every few seconds: each "
                                          "peer's accuracy and loss over time, bytes in and out, the neighbour "
                                          "graph, rejections by reason, bans and problems.")
    _add_dir(p_dash)
    add_serve_arguments(p_dash)
    p_dash.set_defaults(run=lambda args: serve(args.dir, args))

    p_down = verbs.add_parser("down", help="stop every peer: SIGTERM (final checkpoint), then SIGKILL")
    p_down.add_argument("--timeout", type=non_negative, default=20.0, help="seconds before SIGKILL (default 20)")
    _add_dir(p_down)
    p_down.set_defaults(run=_down)


def _load(directory: Path):
    """The testnet recorded in `directory`; a CommandError saying how to start one when there is none."""
    from peer.testnet import Testnet, TestnetError

    try:
        return Testnet.load(directory)
    except TestnetError as exc:
        raise CommandError(str(exc)) from exc


def _add_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dir", type=Path, default=Path("testnet"), help="testnet directory (default ./testnet)")


def _up(args: argparse.Namespace) -> int:
    from peer.genesis import GenesisError, default_genesis_text
    from peer.testnet import TestnetError, up

    if args.tls and args.transport != "mqtt":
        raise CommandError("--tls is for --transport mqtt (libp2p connections are always Noise-encrypted)")
    peer_args = ["--round-seconds", str(args.round_seconds), "--init", args.init]
    if args.settings is not None:
        settings_from(args)  # a bad file is refused here, not by every peer process
        peer_args += ["--settings", str(args.settings.resolve())]
    try:
        text = args.genesis.read_text() if args.genesis else default_genesis_text()
        testnet = up(args.dir, args.peers, args.transport, genesis_text=text, partition=args.partition,
                     alpha=args.alpha, peer_args=peer_args, tls=args.tls, previous=args.previous)
    except (TestnetError, GenesisError, OSError, ValueError) as exc:
        raise CommandError(str(exc)) from exc
    print(f"testnet up in {args.dir}: {len(testnet.peers)} peers over {testnet.transport}")
    print(f"  genesis:   {testnet.genesis}")
    print(f"  bootstrap: {testnet.bootstrap}")
    print(f"join it:     loragossip testnet join --dir {args.dir}   (or --genesis {testnet.genesis} "
          f"--bootstrap {testnet.bootstrap}{' --transport mqtt' if testnet.transport == 'mqtt' else ''})")
    print(f"watch it:    loragossip testnet status --dir {args.dir} --watch")
    print(f"stop it:     loragossip testnet down --dir {args.dir}")
    return 0


def _join(args: argparse.Namespace) -> int:
    from peer.testnet import Testnet, TestnetError, broker_certificate, issue_credentials, join_background

    testnet = None
    if (args.dir / "testnet.json").exists():
        testnet = Testnet.load(args.dir)
        args.genesis = args.genesis or Path(testnet.genesis)
        args.bootstrap = args.bootstrap or [testnet.bootstrap]
        args.transport = args.transport or testnet.transport
        args.broker_ca = args.broker_ca or broker_certificate(args.dir)
    args.transport = args.transport or "libp2p"
    if args.genesis is None or not args.bootstrap:
        raise CommandError(f"no testnet in {args.dir}: give --genesis and --bootstrap")
    if args.background:
        if testnet is None:
            raise CommandError("--background needs a testnet directory (--dir) to record the peer in")
        arguments = peer_command_line(args)
        try:
            peer = join_background(testnet, arguments)
        except TestnetError as exc:
            raise CommandError(str(exc)) from exc
        print(f"joined as {peer.name} (pid {peer.pid}); log {peer.log}")
        return 0
    state_dir = args.state_dir or args.dir / "peers" / "join-foreground"
    if testnet is not None and args.mqtt_credentials is None:
        issue_credentials(args.dir, state_dir)
    return run_daemon(options_from(args, state_dir))


def _status(args: argparse.Namespace) -> int:
    from peer.testnet import peer_status

    if args.json and args.watch:
        raise CommandError("--watch redraws a table; --json prints the status once")
    if args.json:
        print(json.dumps([peer_status(p) for p in _load(args.dir).peers], indent=1, sort_keys=True))
        return 0
    if not args.watch:
        print(_status_table(args.dir))
        return 0
    try:
        while True:  # reads only the peers' JSON status: no torch import, a redraw costs milliseconds
            table = _status_table(args.dir)
            print(f"\033[H\033[2J{table}\n\nevery {args.watch:g} s, {time.strftime('%H:%M:%S')}; Ctrl-C to stop",
                  flush=True)
            time.sleep(args.watch)
    except KeyboardInterrupt:
        return 0


def _status_table(directory: Path) -> str:
    from peer.testnet import STATUS_COLUMNS, peer_status, status_cells

    testnet = _load(directory)
    table = [STATUS_COLUMNS, *(status_cells(peer_status(p)) for p in testnet.peers)]
    lines = [f"testnet {directory} ({testnet.transport}), bootstrap {testnet.bootstrap}"]
    widths = [max(len(row[i]) for row in table) for i in range(len(STATUS_COLUMNS))]
    lines += ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in table]
    return "\n".join(lines)


def _down(args: argparse.Namespace) -> int:
    from peer.testnet import stop

    testnet = _load(args.dir)
    graceful, killed = stop(testnet, args.timeout)
    print(f"stopped {len(graceful)} peers gracefully" + (f", killed {', '.join(killed)}" if killed else ""))
    return 0
