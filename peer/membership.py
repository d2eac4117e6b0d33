"""Who a daemon talks to: a Cyclon view kept fresh by real `hello` and `shuffle` messages.

- A `hello` carries the sender's listen addresses. Receiving one puts the sender in the view;
  a first contact is answered with a hello, so a bootstrap peer and a newcomer learn each other.
- Every `shuffle_period` the peer starts a Cyclon shuffle with the oldest entry of its view
  (`topology.cyclon`); the answer is a `shuffle_reply`. A departed peer never answers, so it
  drops out of every view within a few shuffles.
- With an empty view the peer goes back to its bootstrap list (and, on MQTT, to the broker's
  retained hellos) and says hello again.
Known peers and their addresses are saved to `peers.json` in the state directory, so a
restarted peer rejoins even when its bootstrap peers have gone.

Admission. Keys are free, so a new identity becomes known (and can enter the view) only within
a budget of newcomers per source and overall (`NewcomerBudget`), charged to whoever introduced
it: the sender of a hello introduces itself, a shuffle introduces its entries. A known peer's
updates count only after `probation_rounds` of this peer's rounds (`standing`); bootstrap and
saved peers are trusted from the start. Known, not "in the current view": Cyclon views are
one-directional, and a peer that dropped every update from senders outside its own view would
throw away most of its honest in-neighbours' work in any network larger than a view.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

import numpy as np

from gossip import wire
from gossip.errors import DecodeError
from gossip.identity import IdentityError, peer_id_from_str, peer_id_to_str, public_from_peer_id
from gossip.payloads import ViewEntry, decode_hello, decode_view, encode_hello, encode_view
from gossip.transport import Address
from gossip.transport.newcomers import NewcomerBudget, NewcomerLimits
from peer.atomic import write_json_atomic
from topology.cyclon import CyclonView

if TYPE_CHECKING:
    from peer.node import PeerNode

log = logging.getLogger(__name__)
SendFn = Callable[[Address, str, bytes], Awaitable[bool]]
Standing = Literal["member", "probation", "stranger"]


class Discovery(Protocol):
    """What membership needs of a transport beyond sending."""

    addrs: list[str]

    def learn(self, peer: str, addrs: list[str]) -> None: ...

    async def rediscover(self) -> None: ...

    def source_of(self, address: Address) -> object:
        """What a newcomer introduced by `address` is charged to (its remote IP, say)."""
        ...


@dataclass(frozen=True)
class MembershipSettings:
    view_size: int = 20          # Cyclon c
    shuffle_length: int = 8      # Cyclon l
    shuffle_period: float = 5.0  # seconds between shuffles
    reply_timeout: float = 10.0  # an unanswered shuffle is forgotten after this
    max_known: int = 1024        # addresses remembered; beyond it, the oldest peers outside the view go
    newcomers: NewcomerLimits = field(default_factory=NewcomerLimits)


def split_bootstrap(address: str) -> tuple[str, str]:
    """`/ip4/.../tcp/.../p2p/<id>` → (peer id, address); ValueError when it names no peer id."""
    head, sep, peer = address.rpartition("/p2p/")
    if not sep or not head:
        raise ValueError(f"bootstrap address {address!r} must end in /p2p/<peer id>")
    peer_id_from_str(peer)  # raises IdentityError (a ValueError) for a malformed id
    return peer, address


class Membership:
    def __init__(self, self_id: str, transport: Discovery, bootstrap: list[str], *,
                 settings: MembershipSettings | None = None, state_file: Path | None = None,
                 seed: int = 0, probation_rounds: int = 0) -> None:
        self.self_id = self_id
        self.transport = transport
        self.settings = settings or MembershipSettings()
        s = self.settings
        self.view: CyclonView[str] = CyclonView(self_id, s.view_size, s.shuffle_length, np.random.default_rng(seed))
        self.addrs: dict[str, list[str]] = {}
        # Probation counts the rounds this peer has run, not its round number: that number can
        # jump forward to catch up with the network (`NodeSettings.catch_up_rounds`), and a member
        # claiming high rounds must not be able to end other newcomers' probation early.
        self.rounds_run = 0
        self.joined: dict[str, int] = {}   # newcomers: `rounds_run` when they became known (trusted peers are absent)
        self.probation_rounds = probation_rounds
        self.newcomers = NewcomerBudget(s.newcomers)
        self.refused: Counter[str] = Counter()  # identities not let in, by reason
        self.bootstrap = [split_bootstrap(a) for a in bootstrap]
        self.state_file = state_file
        self.send: SendFn | None = None
        self.round = 0
        self._pending: dict[str, tuple[list[tuple[str, int]], float]] = {}
        self._tasks: set[asyncio.Task[object]] = set()
        self.rejoins = 0
        self._load()

    # Sampler -----------------------------------------------------------------------------------
    def neighbours(self) -> list[Address]:
        return list(self.view.peers())

    def targets(self, k: int) -> list[Address]:
        return list(self.view.sample(k))

    def standing(self, address: Address) -> Standing:
        """Whether updates from `address` count: a known peer past its probation is a member."""
        if address not in self.addrs:
            return "stranger"
        joined = self.joined.get(str(address))
        if joined is not None and self.rounds_run - joined < self.probation_rounds:
            return "probation"
        return "member"

    # knowledge ---------------------------------------------------------------------------------
    def introduce(self, peer: str, addrs: list[str], by: Address) -> bool:
        """A peer named by `by` (in its hello or shuffle): learn it if it is known or fits the
        newcomer budget of `by`'s source; False (counted) when it does not."""
        if peer == self.self_id:
            return False
        if peer not in self.addrs:
            if not self.newcomers.admit(peer, self.transport.source_of(by), time.monotonic()):
                self.refused["newcomer_budget"] += 1
                return False
            self.joined[peer] = self.rounds_run
        self.learn(peer, addrs)
        return True

    def learn(self, peer: str, addrs: list[str]) -> None:
        """Remember a peer and where it listens, without the newcomer budget (bootstrap and saved
        peers, and peers already known)."""
        if peer == self.self_id:
            return
        if addrs:
            self.addrs[peer] = addrs[:4]
            self.transport.learn(peer, addrs[:4])
        elif peer not in self.addrs:
            self.addrs[peer] = []
        if len(self.addrs) > self.settings.max_known:  # hostile shuffles must not grow this without bound
            in_view = set(self.view.peers())
            for old in [p for p in self.addrs if p not in in_view][: len(self.addrs) - self.settings.max_known]:
                del self.addrs[old]
                self.joined.pop(old, None)

    def _load(self) -> None:
        if self.state_file is None or not self.state_file.exists():
            return
        try:
            known = json.loads(self.state_file.read_text())
            for peer, addrs in known.items():
                peer_id_from_str(peer)
                self.addrs[peer] = [str(a) for a in addrs][:4]
        except (ValueError, AttributeError, TypeError) as exc:
            log.warning("ignoring unreadable %s: %s", self.state_file, exc)

    def save(self) -> None:
        if self.state_file is not None:
            known = {p: self.addrs.get(p, []) for p in self.view.peers()}
            write_json_atomic(self.state_file, known)

    # messages ----------------------------------------------------------------------------------
    def _background(self, coroutine: Awaitable[object]) -> None:
        """Run a send without awaiting it (handlers are synchronous), keeping a reference until done."""
        task = asyncio.get_running_loop().create_task(coroutine)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _spawn(self, to: Address, kind: str, body: bytes) -> None:
        if self.send is not None:
            self._background(self.send(to, kind, body))

    def hello_body(self) -> bytes:
        return bytes(encode_hello(self.transport.addrs, self.round))

    def attach(self, node: PeerNode) -> None:
        """Ride on `node` (an `Extension`): it routes `hello`, `shuffle` and `shuffle_reply` here,
        sends for this view, and tells it when a round is over."""
        for kind in ("hello", "shuffle", "shuffle_reply"):
            node.route(kind, self.on_control)
        self.send = node.send

        def round_over() -> None:
            self.round = node.round
            self.rounds_run += 1

        node.after_round(round_over)

    def on_control(self, envelope: wire.Envelope, address: Address) -> None:
        """Handles `hello`, `shuffle` and `shuffle_reply`; raises DecodeError for bad bodies."""
        sender = peer_id_to_str(envelope.sender)
        if envelope.kind == "hello":
            addrs, _ = decode_hello(envelope.body)
            first_contact = sender not in self.addrs
            if not self.introduce(sender, addrs, address):
                raise DecodeError("newcomer_budget", "too many new identities from this source lately")
            self.view.add(sender)
            if first_contact:
                self._spawn(sender, "hello", self.hello_body())
        elif envelope.kind == "shuffle":
            received = self._entries(decode_view(envelope.body), address)
            reply = self.view.answer_shuffle(sender, received)
            self._spawn(sender, "shuffle_reply", self._view_body(reply))
        elif envelope.kind == "shuffle_reply":
            pending = self._pending.pop(sender, None)
            if pending is None:
                raise DecodeError("unsolicited", "a shuffle reply nobody asked for")
            self.view.finish_shuffle(pending[0], self._entries(decode_view(envelope.body), address))
            # It answered, so it is alive: keep it when there is room. Plain Cyclon drops it
            # (the target's entry moved to the other side), which starves the views of small networks.
            self.view.add(sender)

    def _entries(self, view: list[ViewEntry], by: Address) -> list[tuple[str, int]]:
        """The entries of a shuffle from `by` that name real keys and fit its newcomer budget."""
        entries = []
        for entry in view:
            try:
                public_from_peer_id(entry.peer)
            except IdentityError:
                continue  # not an Ed25519 peer id: nobody could sign as it
            peer = peer_id_to_str(entry.peer)
            if self.introduce(peer, [entry.addr] if entry.addr else [], by):
                entries.append((peer, entry.age))
        return entries

    def _view_body(self, entries: list[tuple[str, int]]) -> bytes:
        view = []
        for peer, age in entries:
            addrs = self.transport.addrs if peer == self.self_id else self.addrs.get(peer, [])
            view.append(ViewEntry(peer_id_from_str(peer), addrs[0] if addrs else "", age))
        return bytes(encode_view(view))

    # upkeep ------------------------------------------------------------------------------------
    def rejoin(self) -> None:
        """No neighbours: go back to the bootstrap list and the saved peers, and say hello."""
        self.rejoins += 1
        self._background(self.transport.rediscover())
        candidates = [(p, [a]) for p, a in self.bootstrap] + list(self.addrs.items())
        for peer, addrs in candidates:
            self.learn(peer, addrs)
            self.view.add(peer)
            self._spawn(peer, "hello", self.hello_body())

    def tick(self, now: float | None = None) -> None:
        """One upkeep step: rejoin when alone, else start a shuffle; forget unanswered shuffles."""
        now = time.monotonic() if now is None else now
        for peer, (_, started) in list(self._pending.items()):
            if now - started > self.settings.reply_timeout:
                del self._pending[peer]
        if not self.view.peers():
            self.rejoin()
            return
        target, sent = self.view.start_shuffle()
        if target is not None:
            self._pending[target] = (sent, now)
            self._spawn(target, "shuffle", self._view_body(sent))
        self.save()

    async def maintain(self) -> None:
        while True:
            self.tick()
            await asyncio.sleep(self.settings.shuffle_period)
