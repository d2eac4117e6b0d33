"""What `PeerNode` works with, declared in one place.

The node knows its collaborators only through these: who it talks to (`Sampler`), what a peer
does with its round (`Behaviour`), how rounds are paced (`Pacer`), and what rides on it
(`Extension`: code that handles message kinds of its own and runs at fixed points of a round,
such as membership's hellos and shuffles, or SybilWall's history exchange). The node routes
each validated envelope by its `kind` to the one handler registered for it, so it never needs
to know any one rule, transport or membership protocol.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Protocol

import torch

from gossip import wire
from gossip.transport import Address

if TYPE_CHECKING:
    from peer.node import PeerNode

Handler = Callable[[wire.Envelope, Address], None]
"""Takes one validated, fresh envelope of its kind; raises `DecodeError` to refuse its body."""

SendHook = Callable[[int, list[Address]], Awaitable[None]]
"""Runs after the node sent its model at gossip step `step` to `targets`."""

RoundHook = Callable[[], None]
"""Runs when a round is over (its counter advanced, its checkpoint written)."""


class Sampler(Protocol):
    """Who this peer talks to: the topology in the simulator, Cyclon in the daemon."""

    def neighbours(self) -> list[Address]: ...

    def targets(self, k: int) -> list[Address]: ...

    def standing(self, address: Address) -> str:
        """"member" when updates from `address` count; "probation" or "stranger" when they do not."""
        ...


class Behaviour(Protocol):
    """What a peer does with its round: honest peers train and send their model; attackers differ."""

    trains: bool
    listens: bool  # lock-step mode: waits until `heard_enough` before it sends (a model attacker)

    def heard_enough(self, node: PeerNode) -> bool: ...

    def outgoing(self, node: PeerNode, start: torch.Tensor, trained: torch.Tensor) -> torch.Tensor: ...


class Honest:
    trains = True
    listens = False

    def heard_enough(self, node: PeerNode) -> bool:
        return True

    def outgoing(self, node: PeerNode, start: torch.Tensor, trained: torch.Tensor) -> torch.Tensor:
        return trained


class Pacer(Protocol):
    """How rounds are paced. Free-running peers (the daemon, asynchronous simulations) never
    wait for each other; in lock-step every peer passes each phase of a round together, and a
    peer then expects an update from every neighbour."""

    lock_step: bool

    async def phase(self) -> None:
        """Called after the sends and after the aggregation of every gossip step."""
        ...


class FreeRunning:
    lock_step = False

    async def phase(self) -> None:
        return None


class LockStep:
    """All `parties` peers of one simulation pass each phase together (one shared barrier)."""

    lock_step = True

    def __init__(self, parties: int) -> None:
        self._barrier = asyncio.Barrier(parties)

    async def phase(self) -> None:
        await self._barrier.wait()


class Extension(Protocol):
    """Something that rides on a node: `attach` registers its message kinds (`node.route`) and
    its hooks (`node.after_send`, `node.after_round`)."""

    def attach(self, node: PeerNode) -> None: ...
