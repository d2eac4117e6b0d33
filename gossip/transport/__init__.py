"""Transports move opaque bytes between addresses; the node never knows which one it runs on.

A transport has an `address`, an async `send(to, data) -> bool`, and calls the handler given
to `set_handler` with `(from_address, data)` for every frame it receives, on the event loop.
`sender_of(from_address)` is the peer id the transport itself vouches for (libp2p: the key
the Noise handshake proved; MQTT: the broker-authenticated user), or None when it vouches for
nobody; the node refuses a frame signed by any other key.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Hashable
from typing import Protocol

Address = Hashable
Handler = Callable[[Address, bytes], None]


class Transport(Protocol):
    address: Address

    def set_handler(self, handler: Handler) -> None: ...

    async def send(self, to: Address, data: bytes) -> bool: ...

    def sender_of(self, address: Address) -> bytes | None: ...


class NetworkTransport(Transport, Protocol):
    """What a daemon needs of a real network transport (libp2p, MQTT) beyond moving frames."""

    addrs: list[str]                 # where others reach this peer
    dropped: Counter[str]            # frames refused before the node saw them, by reason
    reconnects: int                  # times the transport had to reconnect (MQTT) or 0

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def announce(self, hello: bytes) -> None:
        """Make this peer's signed hello discoverable where the transport has a place for it."""
        ...

    def learn(self, peer: str, addrs: list[str]) -> None: ...

    async def rediscover(self) -> None: ...

    def source_of(self, address: Address) -> Hashable: ...

    def strike(self, peer: Address, signer: bytes | None = None) -> None: ...

    def banned(self) -> list[str]: ...
