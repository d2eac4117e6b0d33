"""`loragossip peer`: run one peer daemon until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import logging
from pathlib import Path

from loragossip.errors import CommandError
from loragossip.types import at_least_one, non_negative, port


def add_peer_arguments(parser: argparse.ArgumentParser, *, joining: bool = False) -> None:
    """The daemon's options; `testnet join` shares them, taking genesis and transport from its testnet."""
    parser.add_argument("--genesis", type=Path, help="the network's genesis TOML" + ("" if joining else " (required)"))
    parser.add_argument("--data", type=Path, help="this peer's private data: a .safetensors shard "
                        "(`loragossip data split` writes them); default: a demo shard of the built-in pool")
    parser.add_argument("--workload-data", type=Path, help="text workloads: folder with train.tsv/dev.tsv")
    parser.add_argument("--listen", default="/ip4/127.0.0.1/tcp/0",
                        help="libp2p: listen multiaddr; mqtt without --broker: where the embedded broker "
                             "listens (default %(default)s; port 0 picks a free one)")
    parser.add_argument("--bootstrap", action="append", default=[], metavar="ADDR",
                        help="a peer to join through: /ip4/H/tcp/P/p2p/ID (libp2p) or mqtt://H:P (the broker); "
                             "repeatable")
    parser.add_argument("--transport", choices=("libp2p", "mqtt"), default=None if joining else "libp2p",
                        help="default: the testnet's" if joining else "default %(default)s")
    parser.add_argument("--broker", help="mqtt: an external broker, mqtt://[user:pass@]host:port or mqtts://...")
    parser.add_argument("--mqtt-credentials", type=Path, metavar="FILE",
                        help="mqtt: JSON {username, password} issued by the broker's operator "
                             "(default: STATE_DIR/mqtt-credentials.json when it exists)")
    parser.add_argument("--broker-secret", type=Path, metavar="FILE",
                        help="mqtt, hosting the embedded broker: the secret that issues credentials "
                             "(default: STATE_DIR/broker.secret, made on first start)")
    parser.add_argument("--broker-tls", action="store_true",
                        help="mqtt, hosting: serve mqtts:// with a self-signed certificate (STATE_DIR/broker-cert.pem)")
    parser.add_argument("--broker-ca", type=Path, metavar="FILE", help="mqtts: the broker certificate to trust")
    parser.add_argument("--state-dir", type=Path, help="identity key, checkpoints, known peers (default ./peer-state)")
    parser.add_argument("--status-port", type=port, default=0, help="local HTTP port of /status (0: any free)")
    parser.add_argument("--eval-every", type=at_least_one, default=5, help="rounds between evaluations (default 5)")
    parser.add_argument("--round-seconds", type=non_negative, default=1.0, help="minimum length of a round (default 1)")
    parser.add_argument("--rounds", type=at_least_one, help="stop after this many rounds (default: run until a signal)")
    parser.add_argument("--init", choices=("shared", "own"), default="shared",
                        help="trainable part from the genesis seed (shared) or this peer's own seed")
    parser.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: cuda when present)")
    parser.add_argument("--settings", type=Path, metavar="FILE",
                        help="TOML overriding timeouts and limits: [node], [net], [net.rate], [net.newcomers], "
                             "[membership], [membership.newcomers], [daemon]; see --print-settings")


def peer_command_line(args: argparse.Namespace, *, skip: tuple[str, ...] = ("state_dir",)) -> list[str]:
    """The `loragossip peer` options that reproduce `args` (every one that differs from its default),
    read off the same `add_peer_arguments`, so a new option travels to background peers by itself."""
    parser = argparse.ArgumentParser(add_help=False)
    add_peer_arguments(parser)
    out: list[str] = []
    for action in parser._actions:  # argparse has no public list of a parser's options
        value = getattr(args, action.dest, action.default)
        if not action.option_strings or action.dest in skip or value == action.default or value is None:
            continue
        flag = action.option_strings[-1]
        if isinstance(action, argparse._StoreTrueAction):
            out.append(flag)
        elif isinstance(action, argparse._AppendAction):
            for item in value:
                out += [flag, str(item)]
        else:
            out += [flag, str(value)]
    return out


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("peer", help="run a peer daemon (libp2p or MQTT) until SIGINT/SIGTERM",
                            description="Trains a LoRA adapter on local data and gossips it with the peers of "
                                        "the network named by the genesis. Logs are JSON lines on stderr; "
                                        "status is JSON at the printed http://127.0.0.1:PORT/status.")
    add_peer_arguments(parser)
    parser.add_argument("--print-settings", action="store_true",
                        help="print every timeout and limit this peer would run with (as --settings TOML) and exit")
    parser.set_defaults(run=_run)


def settings_from(args: argparse.Namespace):
    """The defaults, or the defaults overridden by --settings FILE."""
    from peer.peer_settings import PeerSettings, SettingsError, load_settings

    if args.settings is None:
        return PeerSettings()
    try:
        return load_settings(args.settings)
    except SettingsError as exc:
        raise CommandError(str(exc)) from exc


def options_from(args: argparse.Namespace, state_dir: Path):
    from peer.daemon import DaemonOptions

    return DaemonOptions(
        genesis=args.genesis, state_dir=state_dir, data=args.data, workload_data=args.workload_data,
        listen=args.listen, bootstrap=list(args.bootstrap), transport=args.transport, broker=args.broker,
        mqtt_credentials=args.mqtt_credentials, broker_secret=args.broker_secret, broker_tls=args.broker_tls,
        broker_ca=args.broker_ca,
        status_port=args.status_port, eval_every=args.eval_every, round_seconds=args.round_seconds,
        rounds=args.rounds, init=args.init, device=args.device, settings=settings_from(args))


def run_daemon(options) -> int:
    """Build and run a daemon; every error a user can fix becomes a CommandError with its message."""
    from gossip.identity import IdentityError
    from peer.daemon import Daemon
    from peer.genesis import GenesisError
    from peer.logs import setup_json_logging
    from peer.workloads import WorkloadError

    setup_json_logging(min(logging.getLogger().level, logging.INFO))
    try:
        daemon = Daemon(options)
    except (GenesisError, WorkloadError, IdentityError, ValueError, OSError) as exc:  # CredentialsError too
        raise CommandError(str(exc)) from exc
    logging.getLogger("loragossip.daemon").info(  # a log line like every other, so log.jsonl parses from line 1
        "peer starting", extra={"peer_id": daemon.identity.peer_id_str, "state_dir": str(options.state_dir)})
    try:
        return asyncio.run(daemon.run())
    except OSError as exc:  # a port in use, a broker that refuses us
        raise CommandError(str(exc)) from exc


def _run(args: argparse.Namespace) -> int:
    if args.print_settings:
        from peer.peer_settings import settings_toml

        print(settings_toml(settings_from(args)), end="")
        return 0
    if args.genesis is None:
        raise CommandError("--genesis is required (the network's genesis TOML; `loragossip genesis new` writes one)")
    return run_daemon(options_from(args, args.state_dir or Path("peer-state")))
