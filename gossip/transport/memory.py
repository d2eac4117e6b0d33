"""In-memory transport with a link model, for the simulator (and tests of the node logic).

A `MemoryNetwork` delivers frames after latency + size / bandwidth, drops them with
probability `loss`, and only between peers that are online and in the same partition group
(asked of `reachable`). Delivery is scheduled on the running loop, virtual or real. A frame's
loss and jitter are drawn by its place on its link (`LinkDraws`), as the batched engine draws
them, so both engines give the same frame the same fate.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from gossip.transport import Address, Handler
from gossip.transport.link_draws import FrameDraws, LinkDraws


@dataclass(frozen=True)
class LinkModel:
    latency: float = 0.05        # seconds, one way
    jitter: float = 0.0          # seconds, uniform extra delay in [0, jitter]
    bandwidth: float = 12.5e6    # bytes per second (100 Mbit/s)
    loss: float = 0.0            # probability a frame is dropped

    def loses(self, draws: FrameDraws) -> bool:
        """Whether the frame with these draws is lost (both simulation engines ask this)."""
        return self.loss > 0 and draws.loss < self.loss

    def delay(self, size: int, draws: FrameDraws) -> float:
        """The frame's one-way delay: latency, transmission of `size` bytes, and its jitter."""
        delay = self.latency + size / self.bandwidth
        if self.jitter > 0:
            delay += draws.jitter * self.jitter
        return delay


class MemoryNetwork:
    def __init__(self, link: LinkModel | None = None, *, seed: int = 0,
                 reachable: Callable[[Address, Address], bool] | None = None) -> None:
        self.link = link or LinkModel()
        self.draws = LinkDraws(seed)
        self.reachable = reachable or (lambda a, b: True)
        self.handlers: dict[Address, Handler] = {}
        self.frames_dropped = 0

    def endpoint(self, address: Address) -> MemoryTransport:
        return MemoryTransport(self, address)

    def deliver_later(self, source: Address, target: Address, data: bytes) -> bool:
        if not self.reachable(source, target) or target not in self.handlers:
            return False
        draws = self.draws.next_frame(source, target)
        if self.link.loses(draws):
            self.frames_dropped += 1
            return True  # it left the sender; the network lost it
        asyncio.get_running_loop().call_later(self.link.delay(len(data), draws), self._arrive, source, target, data)
        return True

    def _arrive(self, source: Address, target: Address, data: bytes) -> None:
        handler = self.handlers.get(target)
        if handler is not None and self.reachable(source, target):
            handler(source, data)


class MemoryTransport:
    def __init__(self, network: MemoryNetwork, address: Address) -> None:
        self.network = network
        self.address = address

    def set_handler(self, handler: Handler) -> None:
        self.network.handlers[self.address] = handler

    async def send(self, to: Address, data: bytes) -> bool:
        return self.network.deliver_later(self.address, to, data)

    def sender_of(self, address: Address) -> bytes | None:
        """Simulated addresses are indices, not keys: the simulator's graph says who may send."""
        return None
