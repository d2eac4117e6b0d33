"""An embedded MQTT broker (amqtt), so an MQTT network needs nothing installed by hand.

`--broker mqtt://host:port` points peers at an external broker such as mosquitto instead.
"""

from __future__ import annotations

import logging
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from amqtt.broker import Broker

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BrokerUrl:
    host: str
    port: int
    tls: bool = False
    username: str | None = None
    password: str | None = None

    def __str__(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"


def parse_broker_url(url: str) -> BrokerUrl:
    """`mqtt://[user:password@]host[:port]` or `mqtts://...` (TLS); ValueError names what is wrong."""
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts"):
        raise ValueError(f"broker address {url!r}: expected mqtt://host:port or mqtts://host:port")
    if not parts.hostname:
        raise ValueError(f"broker address {url!r} has no host")
    try:
        port = parts.port or (8883 if parts.scheme == "mqtts" else 1883)
    except ValueError as exc:
        raise ValueError(f"broker address {url!r}: {exc}") from exc
    return BrokerUrl(parts.hostname, port, parts.scheme == "mqtts", parts.username, parts.password)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class EmbeddedBroker:
    """amqtt on `host:port` (port 0: a free one), anonymous clients allowed, no $SYS topics."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, max_connections: int = 1024) -> None:
        self.host = host
        self.port = port or free_port(host)
        self.max_connections = max_connections
        self._broker: Broker | None = None

    @property
    def url(self) -> BrokerUrl:
        return BrokerUrl(self.host, self.port)

    async def start(self) -> None:
        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}",
                                      "max_connections": self.max_connections}},
            "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
        }
        self._broker = Broker(config)
        await self._broker.start()
        log.info("embedded MQTT broker on %s", self.url)

    async def stop(self) -> None:
        if self._broker is not None:
            await self._broker.shutdown()
            self._broker = None
