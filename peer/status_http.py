"""Read-only HTTP on loopback: the daemon's status as JSON (`GET /status`, `/health`), and the
small server under the dashboard (`loragossip dashboard`).

A few lines of asyncio rather than a web framework: a fixed table of GET routes, loopback only by
default, requests bounded in size and time so a stuck client cannot hold the daemon.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Mapping
from typing import Any

log = logging.getLogger(__name__)
_MAX_REQUEST = 8192

Response = tuple[str, bytes]  # (content type, body)
Route = Callable[[], Response]


def json_response(value: Any) -> Response:
    return "application/json", json.dumps(value, sort_keys=True, default=str).encode()


class LoopbackHTTP:
    """GET `path` answers `routes[path]()` (the query string is ignored); anything else is a JSON error.
    Routes run on the event loop: they should return what is already computed."""

    def __init__(self, routes: Mapping[str, Route], host: str = "127.0.0.1", port: int = 0) -> None:
        self.routes = dict(routes)
        self.host = host
        self.port = port
        self._server: asyncio.Server | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def _answer(self, method: bytes, target: str) -> tuple[str, Response]:
        path = target.split("?", 1)[0]
        if method != b"GET":
            return "405 Method Not Allowed", json_response({"error": "only GET"})
        route = self.routes.get(path)
        if route is None:
            return "404 Not Found", json_response({"error": f"no {path}; try {', '.join(sorted(self.routes))}"})
        return "200 OK", route()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5.0)
            parts = head[:_MAX_REQUEST].split(b" ", 2)
            target = parts[1].decode("latin-1") if len(parts) > 1 else ""
            code, (content_type, body) = self._answer(parts[0], target)
            writer.write(f"HTTP/1.1 {code}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
                         f"Cache-Control: no-store\r\nConnection: close\r\n\r\n".encode() + body)
            await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError) as exc:
            log.debug("http request failed: %s", exc)
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()


class StatusServer(LoopbackHTTP):
    """The daemon's `/status` (also `/`) and `/health`."""

    def __init__(self, status: Callable[[], dict[str, Any]], host: str = "127.0.0.1", port: int = 0) -> None:
        def current() -> Response:
            return json_response(status())

        routes: dict[str, Route] = {"/": current, "/status": current, "/health": lambda: json_response({"ok": True})}
        super().__init__(routes, host, port)

    @property
    def url(self) -> str:
        return f"{self.base_url}/status"


def fetch_status(url: str, timeout: float = 2.0) -> dict[str, Any]:
    """GET a daemon's status JSON (used by `testnet status`, the dashboard and the tests)."""
    from urllib.request import urlopen

    with urlopen(url, timeout=timeout) as response:
        return json.loads(response.read())
