"""The daemon's status as JSON over local HTTP: `GET /status` (and `/health`).

A few lines of asyncio rather than a web framework: one read-only endpoint, loopback only by
default, requests bounded in size and time so a stuck client cannot hold the daemon.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)
_MAX_REQUEST = 8192


class StatusServer:
    def __init__(self, status: Callable[[], dict[str, Any]], host: str = "127.0.0.1", port: int = 0) -> None:
        self.status = status
        self.host = host
        self.port = port
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/status"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5.0)
            parts = head[:_MAX_REQUEST].split(b" ", 2)
            path = parts[1].decode("latin-1") if len(parts) > 1 else ""
            if parts[0] != b"GET":
                code, body = "405 Method Not Allowed", {"error": "only GET"}
            elif path in ("/", "/status"):
                code, body = "200 OK", self.status()
            elif path == "/health":
                code, body = "200 OK", {"ok": True}
            else:
                code, body = "404 Not Found", {"error": f"no {path}; try /status"}
            payload = json.dumps(body, sort_keys=True, default=str).encode()
            writer.write(f"HTTP/1.1 {code}\r\nContent-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
                         f"Connection: close\r\n\r\n".encode() + payload)
            await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError) as exc:
            log.debug("status request failed: %s", exc)
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()


def fetch_status(url: str, timeout: float = 2.0) -> dict[str, Any]:
    """GET a daemon's status JSON (used by `testnet status` and the tests)."""
    from urllib.request import urlopen

    with urlopen(url, timeout=timeout) as response:
        return json.loads(response.read())
