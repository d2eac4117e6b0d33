"""`PeerNode`: one peer's asyncio round loop, the same in the simulator and in the daemon.

One round: K local steps → send the trainable vector (or a sparse delta) to neighbours →
collect what arrives within an adaptive window (never waiting for a slow or departed peer) →
aggregate with the genesis rule → repeat send/collect/aggregate for Q gossip steps → checkpoint.
Received messages are validated and decoded the moment they arrive (`handle`); a bad one is
counted by reason and dropped, never raised.

Only the transport (memory or network) and the event loop's clock (virtual or real) differ
between the simulator and the daemon.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from gossip import wire
from gossip.codecs import all_finite, make_codec
from gossip.errors import DecodeError
from gossip.identity import Identity
from gossip.payloads import decode_update
from gossip.replay import ReplayGuard
from gossip.replicas import ReplicaReceiver, ReplicaSender
from gossip.transport import Address, Transport
from peer.checkpoint import CheckpointStore
from peer.collection_window import censored_waits, collection_window
from peer.genesis import Genesis
from peer.history_exchange import RULE_EXTENSIONS
from peer.round_momentum import quasi_global_step
from peer.seams import Behaviour, Extension, FreeRunning, Handler, Honest, Pacer, RoundHook, Sampler, SendHook
from peer.settings import NodeSettings
from peer.trainer import Trainer
from robust import Meta, make
from robust.history import Remembers

log = logging.getLogger(__name__)
SEQ_JUMP_ON_RESTORE = 100_000
MOMENTUM_TENSOR = "round_momentum"  # the momentum buffer's name in a checkpoint
RULE_PREFIX = "rule/"  # a remembering rule's tensors in a checkpoint (its other state: state["rule"])


@dataclass(frozen=True)
class Route:
    handler: Handler
    members_only: bool  # counts only from a member (`Sampler.standing`): dropped before its body is decoded


@dataclass
class Received:
    vector: torch.Tensor
    round: int
    arrived: float
    degree: int = 0  # the sender's number of neighbours, as it said


class PeerNode:
    def __init__(self, genesis: Genesis, identity: Identity, trainer: Trainer, transport: Transport,
                 sampler: Sampler, *, settings: NodeSettings | None = None, behaviour: Behaviour | None = None,
                 checkpoints: CheckpointStore | None = None, speed: float = 1.0, seed: int = 0,
                 pacer: Pacer | None = None, extensions: tuple[Extension, ...] = (),
                 on_reject: Callable[[Address, str, bytes | None], None] | None = None) -> None:
        self.genesis = genesis
        self.identity = identity
        self.peer_id = identity.peer_id
        self.trainer = trainer
        self.adapter = trainer.adapter
        self.spec = self.adapter.spec
        self.transport = transport
        self.sampler = sampler
        self.settings = settings or NodeSettings()
        self.behaviour = behaviour or Honest()
        self.checkpoints = checkpoints
        self.speed = speed
        self.pacer = pacer or FreeRunning()
        # (address, reason, the verified signer or None): the daemon's transport decides whom to strike
        self.on_reject = on_reject
        self.net = genesis.network_id
        g = genesis.gossip
        self.codec = make_codec(g.codec, topk_fraction=g.topk_fraction, int8_chunk=g.int8_chunk)
        self.rule = make(genesis.aggregation.rule, **genesis.aggregation.params)
        self.guard = ReplayGuard()
        self.replicas_out = ReplicaSender(self.codec, self.spec, self.settings.keyframe_every)
        self.replicas_in = ReplicaReceiver()
        self.generator = torch.Generator().manual_seed(seed)
        self.round = 0
        self.seq = 0
        self.bytes_sent = 0
        self.bytes_received = 0
        self.messages_received = 0
        self.rejected: Counter[str] = Counter()
        self.merge_sizes: Counter[int] = Counter()  # aggregations by how many updates they merged
        self.received: dict[bytes, Received] = {}
        self._peer_at: dict[Address, bytes] = {}   # who last signed from an address (`signer_at`)
        self.last_loss = float("nan")
        # the round-level momentum buffer (peer.round_momentum), kept only when the genesis turns it on
        beta = genesis.training.quasi_global_momentum
        self.momentum = torch.zeros(self.spec.numel) if beta > 0 and self.behaviour.trains else None
        self._delays: deque[float] = deque(maxlen=self.settings.window_history)
        self._collect_started: float | None = None  # set while collecting
        self._arrival = asyncio.Event()
        self.train_seconds = 0.0
        self._training: asyncio.Future[float] | None = None
        self._routes: dict[str, Route] = {}
        self._after_send: list[SendHook] = []
        self._after_round: list[RoundHook] = []
        self.route("update", self._on_update, members_only=True)
        rule_extension = RULE_EXTENSIONS.get(genesis.aggregation.rule)
        for extension in (*extensions, *([rule_extension(self.rule)] if rule_extension else [])):
            extension.attach(self)
        transport.set_handler(self.handle)

    # extension points --------------------------------------------------------------------------
    def route(self, kind: str, handler: Handler, *, members_only: bool = False) -> None:
        """Hand every validated, fresh envelope of `kind` to `handler` (one handler per kind)."""
        if kind not in wire.KINDS:
            raise ValueError(f"{kind!r} is not a message kind of the wire format ({sorted(wire.KINDS)})")
        if kind in self._routes:
            raise ValueError(f"message kind {kind!r} already has a handler")
        self._routes[kind] = Route(handler, members_only)

    def after_send(self, hook: SendHook) -> None:
        """Run `hook(step, targets)` after the model went out at each gossip step."""
        self._after_send.append(hook)

    def after_round(self, hook: RoundHook) -> None:
        """Run `hook()` when a round is over."""
        self._after_round.append(hook)

    def signer_at(self, address: Address) -> bytes:
        """The peer id that last signed a frame from `address` (b"" for none yet)."""
        return self._peer_at.get(address, b"")

    # receiving ---------------------------------------------------------------------------------
    def handle(self, address: Address, data: bytes) -> None:
        """Validate, decode and store one frame; never raises (the transport's callback).

        The order is the cheapest refusal first: envelope and signature; the signer must be who
        the transport says sent it (`sender_of`); a kind nobody handles is refused; members-only
        kinds (updates, histories) count only from members (`Sampler.standing`) and are dropped
        before their bodies are decoded; then the replay window, where members' windows are kept
        apart from strangers' so a flood of fresh keys cannot evict them; then the kind's handler.
        """
        self.bytes_received += len(data)
        verified: bytes | None = None
        try:
            envelope = wire.decode(data, net=self.net)
            if envelope.sender == self.peer_id:
                raise DecodeError("own_message", "a message signed by this peer's own key")
            bound = self.transport.sender_of(address)
            if bound is not None and bound != envelope.sender:
                raise DecodeError("sender_mismatch", "signed by another key than the one the transport authenticated")
            verified = envelope.sender
            route = self._routes.get(envelope.kind)
            if route is None:
                raise DecodeError("unexpected_kind", f"no handler for {envelope.kind!r} messages on this node")
            standing = self.sampler.standing(address)
            if route.members_only and standing != "member":
                raise DecodeError("not_neighbour" if standing == "stranger" else "probation",
                                  f"an {envelope.kind} from a peer that is not a member ({standing})")
            self.guard.check(envelope.sender, envelope.seq, member=standing == "member")
            self._peer_at[address] = envelope.sender
            route.handler(envelope, address)
            self.messages_received += 1
        except DecodeError as exc:
            self.rejected[exc.reason] += 1
            if self.on_reject is not None:
                self.on_reject(address, exc.reason, verified)
            log.debug("peer %s rejected a frame from %s: %s", self.identity.peer_id_str[-6:], address, exc)

    def _on_update(self, envelope: wire.Envelope, address: Address) -> None:
        update = decode_update(envelope.body, self.spec, self.codec)
        vector = self.replicas_in.apply(envelope.sender, envelope.seq, update)
        self._store(envelope.sender, Received(vector, envelope.round, self._now(), update.degree))

    def _store(self, sender: bytes, received: Received) -> None:
        if sender not in self.received and self._collect_started is not None:
            self._delays.append(received.arrived - self._collect_started)  # only waits we actually made
        self.received[sender] = received
        self._arrival.set()

    # sending -----------------------------------------------------------------------------------
    def next_envelope(self, kind: str, body: bytes, seq: int | None = None) -> wire.Envelope:
        if seq is None:
            seq = self.take_seq()
        return wire.Envelope(kind=kind, sender=self.peer_id, seq=seq, round=self.round,
                             t=int(time.time() * 1000), body=body, net=self.net)

    def take_seq(self) -> int:
        self.seq += 1
        return self.seq

    async def send(self, to: Address, kind: str, body: bytes, seq: int | None = None) -> bool:
        data = wire.encode(self.next_envelope(kind, body, seq), self.identity)
        delivered = await self.transport.send(to, data)
        if delivered:
            self.bytes_sent += len(data)
        return delivered

    async def _send_updates(self, targets: list[Address], vector: torch.Tensor) -> None:
        seqs = [self.take_seq() for _ in targets]
        bodies = self.replicas_out.bodies_for(targets, vector, seqs, degree=len(self.sampler.neighbours()))
        for target, seq, body in zip(targets, seqs, bodies, strict=True):
            if not await self.send(target, "update", body, seq):
                self.replicas_out.forget(target)  # it missed this one: resynchronise with a keyframe

    # the round ---------------------------------------------------------------------------------
    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    def window(self) -> float:
        """Collection window (`peer.collection_window`)."""
        return collection_window(self._delays, self.settings)

    async def _train(self) -> float:
        steps = self.genesis.training.local_steps if self.behaviour.trains else 0
        if steps == 0:
            return float("nan")
        started = time.perf_counter()
        if self.settings.train_in_thread:
            # Shielded: a cancelled round must not leave a thread still writing the adapter
            # while a final checkpoint reads it; `idle()` waits for it.
            self._training = asyncio.ensure_future(asyncio.to_thread(self.trainer.train_steps, steps))
            loss = await asyncio.shield(self._training)
        else:
            loss = self.trainer.train_steps(steps)
        self.train_seconds += time.perf_counter() - started
        if self.settings.step_seconds > 0:
            await asyncio.sleep(steps * self.settings.step_seconds / self.speed)
        return loss

    async def _collect(self) -> None:
        """Wait until as many peers have sent as are expected, or the window closes, whichever is first.

        With push gossip each neighbour sends to `fanout` of its own neighbours, so about
        min(degree, fanout) updates arrive per round; in lock-step mode every neighbour sends.
        Updates that came while training count. Neighbours whose updates would not count (on
        probation) are not waited for: a newcomer that never sends must not slow the round.
        """
        neighbours = sum(self.sampler.standing(n) == "member" for n in self.sampler.neighbours())
        expected = neighbours if self.pacer.lock_step else min(neighbours, self.genesis.gossip.fanout)
        self._collect_started = self._now()
        window = self.window()
        try:
            await self._wait_until(lambda: len(self.received) >= expected, window)
        finally:
            self._collect_started = None
        # Closed short: the missing updates took longer. Told by the count, not by `now - started >=
        # window`: the deadline is started + window in floats, and the difference came out a last bit
        # under the window in about half of the closes, which then recorded nothing.
        if len(self.received) < expected:
            self._delays.extend(censored_waits(window, expected, len(self.received)))

    async def _wait_until(self, done: Callable[[], bool], window: float | None = None) -> None:
        """Wait for arrivals until `done()` holds or the collection window closes."""
        deadline = self._now() + (self.window() if window is None else window)
        while not done():
            remaining = deadline - self._now()
            if remaining <= 0:
                return
            self._arrival.clear()
            try:  # not `wait_for`: on Python 3.11 it swallows a cancel that meets an arrival
                async with asyncio.timeout(remaining):
                    await self._arrival.wait()
            except TimeoutError:
                return

    def _aggregate(self) -> int:
        """Merge the stored updates into the own model; returns how many were used."""
        fresh = {s: r for s, r in self.received.items() if self.round - r.round <= self.settings.max_staleness}
        self.received.clear()
        if self.settings.catch_up_rounds and fresh:
            self._catch_up(max(r.round for r in fresh.values()))
        own = self.adapter.get_vector()
        # Sender-id order, not arrival order: arrivals at the same instant come out of the event
        # loop's timer heap in no defined order, and order-sensitive rules (Krum's ties, SybilWall's
        # histories) would follow it. Both simulation engines aggregate in this order.
        senders = tuple(sorted(fresh))
        self.merge_sizes[len(senders)] += 1
        others = torch.stack([fresh[s].vector for s in senders]) if senders else torch.empty(0, own.numel())
        staleness = torch.tensor([max(0, self.round - fresh[s].round) for s in senders], dtype=torch.float32)
        meta = Meta(senders=senders, staleness=staleness, own_degree=len(self.sampler.neighbours()),
                    degrees=torch.tensor([float(fresh[s].degree) for s in senders]), spec=self.spec,
                    generator=self.generator)
        merged = self.rule(own, others, meta)
        if all_finite(merged):
            self.adapter.set_vector(merged)
        else:  # a rule must never do this; keep the adapter intact if one ever does
            log.error("rule %s returned non-finite values; the own model is kept", self.genesis.aggregation.rule)
        return len(senders)

    def _catch_up(self, highest: int) -> None:
        """Round numbers are how a receiver tells an old update from a fresh one, but a peer that
        started late (or was away) counts from where it was: everyone else would find its updates
        stale for good. So it moves towards the highest round it has heard, by at most
        `max_staleness` per aggregation: a member that claims a huge round cannot throw anyone's
        counter far ahead in one step, and honest counters stay within reach of each other.

        It moves to one short of that round, so that the round it starts next (after its own +1) is
        the sender's round, not one past it. One past it made two peers leapfrog: each heard the
        other's new round, went one beyond, and both counters ran at twice the round rate (seen
        in the open-network test: 800 round numbers in 470 rounds, and a daemon that evaluates
        every second round skipped its evaluations while the counters stayed odd)."""
        self.round = max(self.round, min(highest - 1, self.round + self.settings.max_staleness))

    async def run_round(self) -> None:
        start = self.adapter.get_vector()
        self.last_loss = await self._train()
        for step in range(self.genesis.training.gossip_steps):
            # what it sends at each gossip step: its model as it stands (for an adversary, what it makes
            # of it); asked only before a send, so an adversary's state follows what it really sent.
            # A listening attacker in lock-step mode first hears its honest neighbours' models.
            if self.pacer.lock_step and self.behaviour.listens:
                await self._wait_until(lambda: self.behaviour.heard_enough(self))
            outgoing = self.behaviour.outgoing(self, start, self.adapter.get_vector())
            targets = self.sampler.targets(self.genesis.gossip.fanout)
            await self._send_updates(targets, outgoing)
            for hook in self._after_send:
                await hook(step, targets)
            await self.pacer.phase()
            await self._collect()
            self._aggregate()
            await self.pacer.phase()
        if self.momentum is not None:
            self._momentum_step(start)
        self.round += 1
        if self.checkpoints is not None and self.round % self.settings.checkpoint_every == 0:
            self.save_checkpoint()
        for hook in self._after_round:
            hook()

    def _momentum_step(self, start: torch.Tensor) -> None:
        following, buffer = quasi_global_step(start, self.adapter.get_vector(), self.momentum,
                                              self.genesis.training.quasi_global_momentum)
        if all_finite(following) and all_finite(buffer):
            self.adapter.set_vector(following)
            self.momentum = buffer
        else:  # finite inputs overflowed: forget the momentum rather than the model
            log.error("the round momentum overflowed; it starts again from zero")
            self.momentum = torch.zeros_like(buffer)

    async def run(self, rounds: int | None = None) -> None:
        done = 0
        while rounds is None or done < rounds:
            await self.run_round()
            done += 1

    async def idle(self) -> None:
        """Wait for a training step still running in its thread (after a round was cancelled)."""
        if self._training is not None and not self._training.done():
            await asyncio.wait([self._training])

    # state -------------------------------------------------------------------------------------
    def save_checkpoint(self) -> None:
        assert self.checkpoints is not None
        tensors, state = self.trainer.state()
        if self.momentum is not None:
            tensors[MOMENTUM_TENSOR] = self.momentum.clone()
        if isinstance(self.rule, Remembers):  # SybilWall's and FoolsGold's histories: who is a clone
            rule_tensors, state["rule"] = self.rule.state()
            tensors.update({RULE_PREFIX + name: value for name, value in rule_tensors.items()})
        state.update(round=self.round, seq=self.seq, network_id=self.net.hex())
        self.checkpoints.save(tensors, state)

    def restore_checkpoint(self) -> bool:
        """Resume from the newest checkpoint; False when there is none."""
        if self.checkpoints is None:
            return False
        for path, tensors, state in self.checkpoints.candidates():
            network = state.get("network_id")
            if isinstance(network, str) and network != self.net.hex():
                raise ValueError(f"the state directory belongs to another network (genesis {network[:12]}...); "
                                 "use another --state-dir")
            try:
                rnd, seq = state["round"], state["seq"]
                if network != self.net.hex() or not (isinstance(rnd, int) and isinstance(seq, int)
                                                     and rnd >= 0 and seq >= 0):
                    raise ValueError("state.json lacks network_id, or round and seq as whole numbers")
                momentum = self._checkpoint_momentum(tensors)
                undo_rule = self._restore_rule(tensors, state)
                try:
                    self.trainer.restore(tensors, state)
                except ValueError:
                    undo_rule()
                    raise
                self.momentum = momentum
            except (KeyError, ValueError) as exc:
                log.warning("skipping checkpoint %s: %s", path, exc)
                continue
            # Messages sent after that checkpoint used higher seqs; receivers would drop repeats as
            # replays, so jump past any round's worth of messages.
            self.round, self.seq = rnd, seq + SEQ_JUMP_ON_RESTORE
            return True
        return False

    def _restore_rule(self, tensors: dict[str, torch.Tensor], state: dict[str, Any]) -> Callable[[], None]:
        """Give a remembering rule its checkpointed memory (ValueError, the rule unchanged, when it
        does not fit); returns what undoes it. A checkpoint written before rules were checkpointed
        has none: the rule starts empty, as it did then."""
        if not isinstance(self.rule, Remembers) or "rule" not in state:
            return lambda: None
        if not isinstance(state["rule"], dict):
            raise ValueError("state.json's rule entry is not a table")
        rule, width = self.rule, self.adapter.spec.numel
        before = rule.state()
        rule.restore({name.removeprefix(RULE_PREFIX): value for name, value in tensors.items()
                      if name.startswith(RULE_PREFIX)}, state["rule"], width)
        return lambda: rule.restore(*before, width)

    def _checkpoint_momentum(self, tensors: dict[str, torch.Tensor]) -> torch.Tensor | None:
        """The momentum buffer a checkpoint holds (zeros when it was written without one); ValueError
        when it cannot be this node's."""
        if self.momentum is None:
            return None
        saved = tensors.get(MOMENTUM_TENSOR)
        if saved is None:
            return torch.zeros_like(self.momentum)
        if saved.shape != self.momentum.shape or not all_finite(saved):
            raise ValueError(f"momentum buffer of shape {tuple(saved.shape)} (expected {tuple(self.momentum.shape)}, "
                             "finite)")
        return saved.float()

    def status(self) -> dict[str, Any]:
        return {
            "peer_id": self.identity.peer_id_str, "round": self.round, "neighbours": len(self.sampler.neighbours()),
            "bytes_sent": self.bytes_sent, "bytes_received": self.bytes_received,
            "messages_received": self.messages_received, "rejected": dict(self.rejected),
            "loss": self.last_loss, "window_s": self.window(),
        }
