"""An embedded MQTT broker (amqtt), so an MQTT network needs nothing installed by hand.

It admits only clients with credentials issued from its secret and enforces the topic rules
of `mqtt_auth`; with a certificate and key it speaks TLS (`mqtts://`). `--broker
mqtt://host:port` points peers at an external broker such as mosquitto instead.
"""

from __future__ import annotations

import logging
import socket
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import unquote, urlsplit

from amqtt.broker import Broker

from gossip.transport.mqtt_auth import REFUSALS, issue, load_secret

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BrokerUrl:
    host: str
    port: int
    tls: bool = False
    username: str | None = None
    password: str | None = None
    ca_file: str | None = None     # mqtts: the certificate to trust (a self-signed broker's own)

    def with_credentials(self, username: str, password: str) -> BrokerUrl:
        return replace(self, username=username, password=password)

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
    user = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    return BrokerUrl(parts.hostname, port, parts.scheme == "mqtts", user, password)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class EmbeddedBroker:
    """amqtt on `host:port` (port 0: a free one), credentials required, topic rules enforced."""

    def __init__(self, secret_file: Path, host: str = "127.0.0.1", port: int = 0, max_connections: int = 1024,
                 tls: tuple[Path, Path] | None = None) -> None:
        self.secret_file = secret_file
        self.host = host
        self.port = port or free_port(host)
        self.max_connections = max_connections
        self.tls = tls  # (certificate, key)
        self._broker: Broker | None = None

    @property
    def url(self) -> BrokerUrl:
        return BrokerUrl(self.host, self.port, tls=self.tls is not None,
                         ca_file=str(self.tls[0]) if self.tls else None)

    @property
    def refusals(self) -> Counter[str]:
        """Clients, subscriptions and publications the broker refused, by kind."""
        return REFUSALS.setdefault(str(self.secret_file), Counter())

    def url_for(self, peer_id: str) -> BrokerUrl:
        """The URL `peer_id` connects with: its credentials, issued from this broker's secret."""
        credentials = issue(load_secret(self.secret_file), peer_id)
        return self.url.with_credentials(credentials.username, credentials.password)

    async def start(self) -> None:
        listener: dict[str, object] = {"type": "tcp", "bind": f"{self.host}:{self.port}",
                                       "max_connections": self.max_connections}
        if self.tls is not None:
            listener.update(ssl=True, certfile=str(self.tls[0]), keyfile=str(self.tls[1]))
        config = {
            "listeners": {"default": listener},
            "plugins": {"gossip.transport.mqtt_auth.PeerAuthPlugin": {"secret_file": str(self.secret_file)},
                        "gossip.transport.mqtt_auth.PeerTopicPlugin": {"secret_file": str(self.secret_file)}},
        }
        self._broker = Broker(config)
        await self._broker.start()
        log.info("embedded MQTT broker on %s (credentials required)", self.url)

    async def stop(self) -> None:
        if self._broker is not None:
            await self._broker.shutdown()
            self._broker = None
