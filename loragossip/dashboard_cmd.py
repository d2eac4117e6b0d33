"""`loragossip dashboard DIR`: the live web page of a testnet or a simulation run (also
`loragossip testnet dashboard`)."""

from __future__ import annotations

import argparse
import asyncio
import errno
import webbrowser
from pathlib import Path

from loragossip.errors import CommandError
from loragossip.types import non_negative_int, positive

DEFAULT_PORT = 8750


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "dashboard", help="a live web page of a testnet or a simulation run",
        description="Serves a page on loopback that redraws every few seconds: accuracy and loss over time, "
                    "bytes in and out, the neighbour graph, rejections by reason and bans of a testnet "
                    "(DIR holds testnet.json), or the charts of a simulation run's metrics.csv while it runs "
                    "and after (DIR is its --out folder). Nothing is loaded from the internet.")
    parser.add_argument("dir", type=Path, metavar="DIR", help="a testnet directory or a simulation's output folder")
    add_serve_arguments(parser)
    parser.set_defaults(run=lambda args: serve(args.dir, args))


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=non_negative_int, default=DEFAULT_PORT,
                        help=f"port on --host (default {DEFAULT_PORT}; 0 picks a free one)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to serve on (default 127.0.0.1; the page has no login, keep it local)")
    parser.add_argument("--every", type=positive, default=2.0, metavar="SECONDS",
                        help="how often the directory is read and the page redrawn (default 2)")
    parser.add_argument("--open", action="store_true", help="open the page in the default browser")


def serve(directory: Path, args: argparse.Namespace) -> int:
    from loragossip.dashboard.server import Dashboard, DirectoryError, view_for

    try:
        dashboard = Dashboard(view_for(directory), args.every, args.host, args.port)
    except DirectoryError as exc:
        raise CommandError(str(exc)) from exc

    def ready(url: str) -> None:
        print(f"dashboard of {directory} at {url} (redrawn every {args.every:g} s); Ctrl-C to stop", flush=True)
        if args.open:
            webbrowser.open(url)

    try:
        asyncio.run(dashboard.run(ready))
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise CommandError(f"port {args.port} on {args.host} is in use; --port 0 picks a free one") from exc
        raise CommandError(f"cannot serve on {args.host}:{args.port}: {exc}") from exc
    return 0
