"""The dashboard's server: samples a view every few seconds and serves the page and the newest state.

Sampling runs on its own cadence, not per request, so the traffic history has an even grain
whatever the number of open tabs, and a request only returns bytes already computed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from importlib.resources import files
from pathlib import Path
from typing import Any, Protocol

from peer.status_http import LoopbackHTTP, Response, json_response

log = logging.getLogger(__name__)


class View(Protocol):
    """A directory seen as the page's one JSON shape (see `static/dashboard.js` for what it draws)."""

    def snapshot(self) -> dict[str, Any]: ...


class DirectoryError(ValueError):
    """The directory is neither a testnet nor a simulation run."""


def view_for(directory: Path) -> View:
    """A testnet directory (it has testnet.json) or a simulation run (metrics.csv); DirectoryError otherwise."""
    from loragossip.dashboard.run_view import RunView
    from loragossip.dashboard.testnet_view import TestnetView

    if (directory / "testnet.json").exists():
        return TestnetView(directory)
    if (directory / "metrics.csv").exists():
        return RunView(directory)
    raise DirectoryError(f"{directory} is neither a testnet (no testnet.json: `loragossip testnet up`) nor a "
                         "simulation run (no metrics.csv: `loragossip sim CONFIG --out DIR` writes it as it goes)")


class Dashboard:
    def __init__(self, view: View, every: float = 2.0, host: str = "127.0.0.1", port: int = 0) -> None:
        self.view = view
        self.every = every
        static = files("loragossip.dashboard") / "static"
        page = static.joinpath("index.html").read_bytes()
        script = static.joinpath("dashboard.js").read_bytes()
        self._state = json_response({"status": "starting", "charts": [], "tables": [], "graph": None})
        self.http = LoopbackHTTP({"/": lambda: ("text/html; charset=utf-8", page),
                                  "/dashboard.js": lambda: ("text/javascript; charset=utf-8", script),
                                  "/api/state": lambda: self._state}, host, port)

    @property
    def url(self) -> str:
        return self.http.base_url + "/"

    def sample(self) -> Response:
        """The view's state now, or the error that kept it from being read (the page shows it)."""
        try:
            state = self.view.snapshot()
        except Exception as exc:  # a vanished directory, a torn file: shown on the page, retried next time
            log.warning("dashboard: reading the directory failed: %s", exc)
            state = {"status": "error", "error": f"{type(exc).__name__}: {exc}", "charts": [], "tables": [],
                     "graph": None}
        state.update(refresh_s=self.every, updated=time.strftime("%H:%M:%S"))
        return "application/json", json.dumps(state, default=str).encode()

    async def run(self, ready: Callable[[str], None] | None = None) -> None:
        """Serve until cancelled; `ready(url)` once the port is bound and the first state is in."""
        self._state = await asyncio.to_thread(self.sample)
        await self.http.start()
        if ready is not None:
            ready(self.url)
        try:
            while True:
                await asyncio.sleep(self.every)
                self._state = await asyncio.to_thread(self.sample)
        finally:
            await self.http.stop()
