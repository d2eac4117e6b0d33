"""The batched engine: the same experiment as the nodes engine, with all peers as rows of tensors.

What is shared with the nodes engine, by code and not by copy: the workload, the partition and
every seed (`sim.runner.derive_seed`), the live graph and its samplers, churn events, the link
model's formula, the attacks, the codecs' quantisation (`Codec.received`), the real encoded
message sizes, and the rules of `robust/`. What is different: no message is encoded, signed or
verified, and time advances in ticks (see `docs/DESIGN-NOTES.md`, "The batched engine").

Lock-step mode (`run.mode = "sync"`) reproduces the nodes engine round for round. Async mode is
an event simulation whose work is batched by tick: every peer whose training ends within one
tick trains in one batched pass, every peer whose collection window closes aggregates in one.
The events keep their exact times (each peer's `clock`; `_file` puts each update where a node
has it at its arrival time), and each frame's jitter and loss are drawn by its place on its
link (`LinkDraws`) as in the nodes engine, so it reproduces that engine event for event
(tested, with jitter and loss).
"""

from __future__ import annotations

import heapq
import itertools
import logging
import math
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from gossip.codecs import make_codec
from gossip.errors import DecodeError
from gossip.replicas import ReplicaReceiver
from gossip.transport.link_draws import LinkDraws
from gossip.transport.memory import LinkModel
from peer.collection_window import censored_waits, collection_window
from peer.round_momentum import quasi_global_step
from peer.settings import NodeSettings
from robust import STATEFUL, make
from robust.attacks import MODEL_ATTACKS, sybil_clones
from robust.history import HistoryRecord
from robust.sybilwall import SybilWall
from sim.batched.aggregate import Aggregator, Arrival
from sim.batched.messages import MessageSizes
from sim.batched.replicas import BatchedReplicaSender, received_tensors
from sim.batched.stacked import build_stacked
from sim.batched.training import BatchedTrainer
from sim.config import DATA_ATTACKS, SimConfig
from sim.metrics import merge_statistics
from sim.resume import stop_after_round
from sim.runner import (
    LOCK_STEP_WINDOW,
    SimulationBase,
    attack_inputs,
    churn_events,
    data_attack,
    data_boost,
    model_attack,
    peer_identity,
    peer_shares,
    pick_adversaries,
    progress_bar,
    show_progress,
)
from sim.sampler import GraphSampler
from sim.seeds import derive_seed
from topology import churn
from topology.churn import ChurnEvent
from topology.live import LiveGraph

log = logging.getLogger(__name__)




@dataclass
class _Peer:
    """The per-peer bookkeeping that is not a tensor row."""

    honest: bool
    speed: float
    online: bool = True
    round: int = 0
    seq: int = 0
    step: int = 0                    # gossip step within the round
    bytes_sent: int = 0
    bytes_received: int = 0
    phase: str = "train"             # train | collect (async)
    clock: float = 0.0               # async: the exact time its current phase began (ticks only batch the work)
    until: float = 0.0               # async: training ends / the window closes (deadline or expected-th update)
    window: float = 0.0              # async: the collection window in force
    collect_started: float = 0.0
    expected: int = 0
    inbox: dict[int, Arrival] = field(default_factory=dict)
    later: list[tuple[Arrival, float]] = field(default_factory=list)  # async: came after its window closed
    # async: arrivals with their times that its next window takes when it opens (the tick hands
    # them over before that): those from before it opened count at once, the others as waits
    waiting: list[tuple[Arrival, float]] = field(default_factory=list)
    replicas: ReplicaReceiver = field(default_factory=ReplicaReceiver)  # what it reconstructs of each sender
    # neighbours whose frames reached it (their ids are known from then on): sender -> first arrival
    heard: dict[int, float] = field(default_factory=dict)
    # SybilWall history messages in arrival order, handed to the rule at its next own event
    histories: list[tuple[float, int, list[HistoryRecord]]] = field(default_factory=list)
    delays: deque = field(default_factory=lambda: deque(maxlen=NodeSettings().window_history))
    rejected: Counter = field(default_factory=Counter)


class BatchedSimulation(SimulationBase):
    engine = "batched"

    def __init__(self, config: SimConfig, *, seed: int | None = None, progress: bool = True,
                 device: str | None = None) -> None:
        super().__init__(config, seed=seed, progress=progress, device=device)
        c, g = config, config.genesis
        n = c.peers.count
        self.live = LiveGraph(self.graph, repair=c.topology.repair, target_degree=c.topology.degree,
                              seed=derive_seed(self.seed, "live"))
        self.link = LinkModel(**vars(c.link))  # the nodes engine's MemoryNetwork link: same formula
        self.link_draws = LinkDraws(derive_seed(self.seed, "link"))
        self.data_attack = data_attack(config, self.workload.num_classes)
        self.adversarial = pick_adversaries(config, self.rng)
        self.settings = NodeSettings(step_seconds=c.peers.step_seconds,
                                     **(LOCK_STEP_WINDOW if c.run.mode == "sync" else {}))
        speeds = self.rng.uniform(c.peers.speed_min, c.peers.speed_max, size=n)
        self.peers = [_Peer(i not in self.adversarial, float(speeds[i])) for i in range(n)]
        shares = peer_shares(c, self.workload.train.labels.numpy(), self.seed)
        self.stacked = build_stacked(self.workload.build_base(self.device), g, self.device)
        self.spec = self.stacked.spec
        transforms = {i: self.data_attack for i in self.adversarial} if self.data_attack is not None else {}
        self.trainer = BatchedTrainer(self.stacked, self.workload.train, [torch.as_tensor(s) for s in shares],
                                      g.training, self.device, [derive_seed(self.seed, "batches", i) for i in range(n)],
                                      transforms=transforms, classes=self.workload.num_classes)
        if c.peers.init == "own":
            for i in range(n):
                self.trainer.vectors[i] = self._own_init(i)
        self.codec = make_codec(g.gossip.codec, topk_fraction=g.gossip.topk_fraction, int8_chunk=g.gossip.int8_chunk)
        self.sizes = MessageSizes(g.network_id, self.spec, self.codec)
        self.replicas = BatchedReplicaSender(self.codec, self.spec, self.settings.keyframe_every)
        self.node_generators = [torch.Generator().manual_seed(derive_seed(self.seed, "node", i)) for i in range(n)]
        # the nodes engine's peer ids: rules see them, and both engines aggregate in their order
        self.ids = [peer_identity(self.seed, i).peer_id for i in range(n)]
        if g.aggregation.rule in STATEFUL:
            self.rules = [make(g.aggregation.rule, **g.aggregation.params) for _ in range(n)]
            for rule, peer_id in zip(self.rules, self.ids, strict=True):
                if isinstance(rule, SybilWall):
                    rule.self_id = peer_id
        else:
            self.rules = [make(g.aggregation.rule, **g.aggregation.params)] * n
        self.aggregate = Aggregator(self.rules, self.spec, self.ids, self.node_generators)
        self.samplers = [GraphSampler(self.live, i, np.random.default_rng(derive_seed(self.seed, "sampler", i)),
                                      send_to_all=c.run.mode == "sync") for i in range(n)]
        self._behaviours()
        self.attack_inputs = attack_inputs(self.data_attack, self.workload.test)
        self.trains = [i for i in range(n) if i not in self.clones]
        self._trains = set(self.trains)
        # the round-level momentum buffers of the peers that train (peer.round_momentum), when it is on
        self.momentum = (torch.zeros(n, self.spec.numel, device=self.device)
                         if g.training.quasi_global_momentum > 0 else None)
        self.peer_rounds = 0
        self._untrained: dict[int, None] = {}  # async: started a round, steps not taken yet (in start order)
        self.merge_sizes: Counter = Counter()  # honest aggregations by how many updates they merged
        self.train_seconds = 0.0
        self.frames_lost = 0
        self.now = 0.0
        self._flight: list = []
        self._order = itertools.count()
        self.rounds_done = 0             # lock-step: rounds finished (a resumed run goes on from here)
        self.wall_before = 0.0           # wall seconds of the run before it was resumed
        self.stop_requested = False      # lock-step: the first Ctrl-C ends the run after this round

    @property
    def resumable(self) -> bool:
        """Lock-step runs stop at a round boundary and can be saved there (`sim.resume`)."""
        return self.config.run.mode == "sync"

    def final_vectors(self) -> torch.Tensor:
        """Every peer's trainable vector, `[N, d]` on the CPU (written as `adapters.safetensors`)."""
        return self.trainer.vectors.detach().cpu().clone()

    def honest_mask(self) -> list[bool]:
        return [p.honest for p in self.peers]

    # building ----------------------------------------------------------------------------------
    def _own_init(self, index: int) -> torch.Tensor:
        """`Adapter.reinit_trainable` of the nodes engine, tensor by tensor in spec order."""
        generator = torch.Generator().manual_seed(derive_seed(self.seed, "init", index))
        parts = []
        for t in self.spec.tensors:
            bound = 1 / math.sqrt(t.shape[-1])
            parts.append(((torch.rand(t.shape, generator=generator) * 2 - 1) * bound).reshape(-1))
        return torch.cat(parts).to(self.device)

    def _behaviours(self) -> None:
        a = self.config.attack
        self.attack_generators = {i: torch.Generator().manual_seed(derive_seed(self.seed, "attack", i))
                                  for i in self.adversarial}
        self.leader = self.adversarial[0] if self.adversarial else None
        self.clones = set(self.adversarial[1:]) if a.sybil else set()
        self.model_attack = model_attack(self.config) if a.kind in MODEL_ATTACKS else None
        self.boost = data_boost(self.config) if a.kind in DATA_ATTACKS else 1.0
        self.latest: torch.Tensor | None = None  # the adversary's last poisoned vector (for its clones)

    # one peer's outgoing model -----------------------------------------------------------------
    def _poisoned(self, i: int, start: torch.Tensor) -> torch.Tensor:
        """What adversarial peer i sends (the `Behaviour.outgoing` of its nodes-engine twin)."""
        current = self.trainer.vectors[i]
        if i in self.clones:
            base = self.latest if self.latest is not None else start
            return sybil_clones(base, 1, self.config.attack.jitter, self.attack_generators[i])[0]
        if self.model_attack is not None and self.config.attack.omniscient:
            honest = sorted((j for j, p in enumerate(self.peers) if j not in self.adversarial and p.online),
                            key=lambda j: self.ids[j])  # what they sent this gossip step: what they hold
            poisoned = self.model_attack(start, current, self.trainer.vectors[honest], self.attack_generators[i])
        elif self.model_attack is not None:
            heard = sorted((a for a in self.peers[i].inbox.values() if a.sender not in self.adversarial),
                           key=lambda a: self.ids[a.sender])
            neighbours = torch.stack([a.vector for a in heard]) if heard else torch.empty(0, start.numel())
            poisoned = self.model_attack(start, current, neighbours, self.attack_generators[i])
        else:
            poisoned = current if self.boost == 1.0 else start + self.boost * (current - start)
        self.latest = poisoned.clone()  # what it sent, not a view of the row it later aggregates into
        return poisoned

    def _outgoing_rows(self, senders: list[int], starts: dict[int, torch.Tensor]) -> torch.Tensor:
        """Outgoing vectors of `senders`. Clones copy the leader's latest poisoned model: the one it
        sent last before their own send (async: the senders of one tick go in time order), and in a
        lock-step round they send before it (they do not train), so the one of its previous send."""
        out = self.trainer.vectors[senders]  # a copy: honest peers send what they hold
        adversaries = [(k, p) for k, p in enumerate(senders) if p in self.adversarial]
        for k, p in sorted(adversaries, key=lambda kp: (self._moment(kp[1]), kp[1] not in self.clones, kp[1])):
            out[k] = self._poisoned(p, starts[p])
        return out

    # sending and receiving ---------------------------------------------------------------------
    def _send(self, sender: int, target: int, kind: str, size: int, payload: Any) -> bool:
        """Put one message in flight, unless the target is unreachable (not sent: False) or the link loses it."""
        if not self.live.reachable(sender, target):
            return False
        peer = self.peers[sender]
        peer.bytes_sent += size
        draws = self.link_draws.next_frame(sender, target)
        if self.link.loses(draws):
            self.frames_lost += 1
            return True
        departure = peer.clock if self.config.run.mode == "async" else self.now
        heapq.heappush(self._flight, (departure + self.link.delay(size, draws), next(self._order), kind,
                                      sender, target, size, payload, peer.round, peer.seq))
        return True

    def _send_round(self, senders: list[int], starts: dict[int, torch.Tensor]) -> None:
        """Each sender's update to its targets (and SybilWall records on a history round's first step)."""
        if not senders:
            return
        if self.config.run.mode == "async":
            for i in senders:  # a model attacker builds on what it holds when it sends
                self._take_waiting(i)
        fanout = self.config.genesis.gossip.fanout
        targets = [self.samplers[i].targets(fanout) for i in senders]
        seqs = [[self.peers[i].seq + 1 + j for j in range(len(t))] for i, t in zip(senders, targets, strict=True)]
        degrees = [len(self.live.neighbours(i)) for i in senders]
        updates = self.replicas.updates(senders, self._outgoing_rows(senders, starts), targets, seqs, degrees)
        for k, i in enumerate(senders):
            peer = self.peers[i]
            for target, update in zip(targets[k], updates[k], strict=True):
                peer.seq += 1
                mode, base = (update.mode, update.base) if update is not None else ("model", -1)
                size = self.sizes.update(mode, base, degrees[k], peer.seq, peer.round)
                if not self._send(i, target, "update", size, update):
                    self.replicas.forget(i, target)  # it missed this one: resynchronise with a keyframe
            history_round = peer.step == 0 and peer.round % self.settings.history_every == 0
            if history_round and isinstance(self.rules[i], SybilWall):
                self._send_history(i, targets[k])
            if self.config.run.mode == "async":
                self._start_collecting(i)

    def _send_listening_last(self, senders: list[int], starts: dict[int, torch.Tensor]) -> None:
        """A lock-step gossip step's sends: all at once, except model attackers, which send as soon as
        their honest neighbours' updates are in (`ModelPoisoner.listens` in the nodes engine)."""
        listening = [i for i in senders if self.model_attack is not None and i in self.adversarial]
        self._send_round([i for i in senders if i not in listening], starts)
        sent_at = self.now
        for ready, i in sorted((self._heard_honest_at(i), i) for i in listening):
            self.now = ready
            self._deliver(ready)
            self._send_round([i], starts)
        self.now = sent_at

    def _heard_honest_at(self, i: int) -> float:
        """When attacker i holds an update from each honest neighbour (or its lock-step window closes)."""
        honest = {j for j in self.live.neighbours(i) if j not in self.adversarial}
        heard = honest & set(self.peers[i].inbox)
        due = {item[3]: item[0] for item in self._flight if item[2] == "update" and item[4] == i and item[3] in honest}
        if len(heard | set(due)) < len(honest):
            return self.now + LOCK_STEP_WINDOW["max_window"]
        return max(due.values(), default=self.now)

    def _moment(self, i: int) -> float:
        """When peer i's current event happens: its own clock in async mode, the round's now in lock-step."""
        return self.peers[i].clock if self.config.run.mode == "async" else self.now

    def _take_histories(self, i: int) -> None:
        """Hand peer i's rule the history messages that reached it by its current event. The tick
        delivers everything due by its end first, but a node's rule has taken only those that
        arrived before the instant it sends or aggregates (what it keeps depends on its state)."""
        peer, rule = self.peers[i], self.rules[i]
        moment, taken = self._moment(i), 0
        for arrival, sender, records in peer.histories:
            if arrival > moment + 1e-12:
                break
            sender_id = self.ids[sender]
            rule.receive(sender_id, [r for r in records if rule.wants(sender_id, r.subject, r.distance)])
            taken += 1
        del peer.histories[:taken]

    def _send_history(self, i: int, targets: list[int]) -> None:
        peer, rule = self.peers[i], self.rules[i]
        self._take_histories(i)
        decoded: torch.Tensor | None = None  # every history as its receivers decode it, once for all targets
        for target in targets:
            known = peer.heard.get(target, math.inf) <= self._moment(i) + 1e-12
            recipient = self.ids[target] if known else b""
            records = rule.records_for(recipient, self.node_generators[i])
            if not records:
                continue
            peer.seq += 1
            if decoded is None:  # the codec decodes row by row: the rows a target gets, decoded alone, are these
                decoded = received_tensors(self.codec.keyframe, self.spec, rule.histories.matrix())
            rows = rule.histories.rows_of([r.subject for r in records])
            payload = [HistoryRecord(r.subject, r.distance, decoded[row]) for r, row in zip(records, rows, strict=True)]
            self._send(i, target, "history", self.sizes.history(records, peer.seq, peer.round), payload)

    def _deliver(self, until: float) -> None:
        """Hand every message due by `until` to its receiver in arrival order, as `PeerNode.handle` would."""
        while self._flight and self._flight[0][0] <= until + 1e-12:
            arrival, _, kind, sender, target, size, payload, rnd, seq = heapq.heappop(self._flight)
            if not self.live.reachable(sender, target):
                continue
            peer = self.peers[target]
            peer.bytes_received += size
            peer.heard.setdefault(sender, arrival)
            if payload is None:
                peer.rejected["not_finite"] += 1
                continue
            if kind == "update":
                try:
                    vector = peer.replicas.apply(self.ids[sender], seq, payload)
                except DecodeError as exc:  # a delta on a message it lost
                    peer.rejected[exc.reason] += 1
                    continue
                self._file(peer, Arrival(sender, vector, rnd, payload.degree), arrival)
            else:
                peer.histories.append((arrival, sender, payload))

    def _file(self, peer: _Peer, update: Arrival, arrival: float) -> None:
        """Put an arrived update where a `PeerNode` would have it at its exact arrival time, although
        the tick hands it over later: while training it waits for the next window; in a window it
        counts (its wait is recorded, and the expected-th closes the window); after the window closed,
        or after training ended but before the tick opened the window, it waits for the next window
        (`_start_collecting`: a peer that does not train, a Sybil clone, opens it the instant the
        last one closed, and what arrives after that instant are waits of the new window)."""
        asynchronous = self.config.run.mode == "async"
        if asynchronous and peer.phase == "collect":
            if arrival > peer.until + 1e-12:
                peer.later.append((update, arrival))
                return
            if update.sender not in peer.inbox:
                peer.delays.append(arrival - peer.collect_started)
            peer.inbox[update.sender] = update
            if len(peer.inbox) >= peer.expected:
                peer.until = min(peer.until, max(arrival, peer.collect_started))
        elif asynchronous:  # training: in order with what already waits for its next window
            peer.waiting.append((update, arrival))
        else:
            peer.inbox[update.sender] = update

    def _aggregate(self, receivers: list[int]) -> None:
        inboxes = {}
        for i in receivers:
            peer = self.peers[i]
            if peer.histories:
                self._take_histories(i)
            fresh = [a for a in peer.inbox.values() if peer.round - a.round <= self.settings.max_staleness]
            inboxes[i] = sorted(fresh, key=lambda a: self.ids[a.sender])
            peer.inbox = {}
            if peer.honest:
                self.merge_sizes[len(fresh)] += 1
        self.aggregate(self.trainer.vectors, inboxes, lambda p: len(self.live.neighbours(p)),
                       [p.round for p in self.peers])

    def train(self, rows: list[int]) -> None:
        """Local steps for peers `rows`, timed (the baselines call it too)."""
        steps = self.config.genesis.training.local_steps
        if rows and steps:
            started = time.perf_counter()
            self.trainer.train_steps(rows, steps)
            self.train_seconds += time.perf_counter() - started

    # evaluation --------------------------------------------------------------------------------
    def evaluate(self, now: float, rounds: int | None = None) -> None:
        """One metrics row per peer; `rounds` replaces every peer's own round (the baselines count theirs)."""
        rows = list(range(len(self.peers)))
        losses, accuracies = self.trainer.evaluate(rows, self.workload.test)
        vectors = self.trainer.vectors
        honest_online = [i for i, p in enumerate(self.peers) if p.honest and p.online]
        distances = torch.full((len(rows),), float("nan"))
        if honest_online:
            centre = vectors[honest_online].mean(dim=0)
            distances = ((vectors - centre) ** 2).sum(dim=1).cpu()
        success = torch.full((len(rows),), float("nan"))
        if self.attack_inputs is not None and self.data_attack is not None and len(self.attack_inputs):
            success = (self.trainer.predictions(rows, self.attack_inputs) == self.data_attack.target).float().mean(1)
        for i, p in enumerate(self.peers):
            peer_round = p.round if rounds is None else rounds
            self.metrics.add(time=round(now, 6), round=peer_round, peer=i, honest=p.honest, online=p.online,
                             accuracy=float(accuracies[i]), loss=float(losses[i]), bytes_sent=p.bytes_sent,
                             bytes_received=p.bytes_received,
                             consensus_distance=float(distances[i]) if p.online and honest_online else float("nan"),
                             attack_success=float(success[i]))
        self.metrics.flush()

    def _honest_rounds(self) -> list[int]:
        return [p.round for p in self.peers if p.honest and p.online]

    # lock-step rounds --------------------------------------------------------------------------
    def _run_sync(self, bar: tqdm) -> None:
        c = self.config
        everyone = list(range(len(self.peers)))
        if self.rounds_done == 0:
            self.evaluate(0.0)
        bar.update(self.rounds_done)  # a resumed run's bar starts where it stopped
        every = max(1, round(c.run.eval_every))
        k, step_seconds = c.genesis.training.local_steps, c.peers.step_seconds
        clones = sorted(self.clones)
        for r in range(self.rounds_done + 1, c.run.rounds + 1):
            if self.stop_requested:
                return
            starts = {i: self.trainer.vectors[i].clone() for i in self.adversarial}
            round_starts = self.trainer.vectors[self.trains] if self.momentum is not None else None  # a copy
            for peer in self.peers:
                peer.step = 0
            round_start = self.now
            self._deliver(self.now)
            self._send_round(clones, starts)  # they do not train: they send at once, the leader's last model
            self.train(self.trains)
            if step_seconds > 0 and k and self.trains:
                self.now += max(k * step_seconds / self.peers[i].speed for i in self.trains)
            for step in range(c.genesis.training.gossip_steps):
                for peer in self.peers:
                    peer.step = step
                self._deliver(self.now)
                self._send_listening_last(self.trains if step == 0 else everyone, starts)
                arrivals = [item[0] for item in self._flight if item[2] == "update"]
                held = sum(len(p.inbox) for p in self.peers)  # the clones' updates came during training
                complete = held + len(arrivals) == sum(len(self.live.neighbours(i)) for i in everyone)
                waited_from = round_start if step == 0 else self.now
                self.now = max(arrivals, default=self.now) if complete else waited_from + LOCK_STEP_WINDOW["max_window"]
                # everything due by the last update, in arrival order: a history of one record is
                # smaller than an update and is merged before this aggregation; larger ones after it
                self._deliver(self.now)
                self._aggregate(everyone)
            if round_starts is not None:
                self._momentum_step(self.trains, round_starts)
            for peer in self.peers:
                peer.round += 1
            self.peer_rounds += len(everyone)
            if r % every == 0 or r == c.run.rounds:
                self.evaluate(self.now)
                show_progress(bar, self.metrics, self._honest_rounds())
            bar.update(1)
            self.rounds_done = r

    def _momentum_step(self, rows: list[int], starts: torch.Tensor) -> None:
        """The round-level momentum of peers `rows` whose round went from `starts` to their vectors now.
        The node keeps its model and forgets its momentum if that ever overflows; so does each row here."""
        assert self.momentum is not None
        index = torch.tensor(rows, dtype=torch.long, device=self.device)
        mixed = self.trainer.vectors[index]
        following, buffers = quasi_global_step(starts, mixed, self.momentum[index],
                                               self.config.genesis.training.quasi_global_momentum)
        finite = torch.isfinite(following).all(dim=1) & torch.isfinite(buffers).all(dim=1)
        self.trainer.vectors[index] = torch.where(finite[:, None], following, mixed)
        self.momentum[index] = torch.where(finite[:, None], buffers, torch.zeros_like(buffers))

    # asynchronous rounds -----------------------------------------------------------------------
    def _start_collecting(self, i: int) -> None:
        """Peer i opens its window at its exact send time: the updates that came while it trained
        count at once, then those that came since, in arrival order, as the node hears them."""
        peer = self.peers[i]
        self._take_waiting(i)
        peer.phase, peer.collect_started = "collect", peer.clock
        peer.expected = min(len(self.live.neighbours(i)), self.config.genesis.gossip.fanout)
        peer.window = collection_window(peer.delays, self.settings)
        peer.until = peer.clock + (peer.window if len(peer.inbox) < peer.expected else 0.0)
        pending, peer.waiting = peer.waiting, []
        for update, arrival in pending:
            self._file(peer, update, arrival)

    def _take_waiting(self, i: int) -> None:
        """Peer i holds, in arrival order, the waiting updates that reached it by its clock (while it
        trained, or at the instant its window opens): they count at once, not as waits."""
        peer = self.peers[i]
        taken = 0
        for update, arrival in peer.waiting:
            if arrival > peer.clock:
                break
            peer.inbox[update.sender] = update
            taken += 1
        del peer.waiting[:taken]

    def _start_round(self, i: int) -> None:
        """Peer i starts a round now. Like a `PeerNode`, it takes its local steps at the start and
        spends the training time after them, so a model evaluated during that time is the trained
        one; the steps themselves wait for `_train_pending`."""
        if i in self._untrained:  # a peer back from churn that left while it trained
            self._train_pending()
        peer = self.peers[i]
        peer.phase, peer.step = "train", 0
        steps = self.config.genesis.training.local_steps if i in self._trains else 0
        peer.until = peer.clock + steps * self.config.peers.step_seconds / peer.speed
        self._starts[i] = self.trainer.vectors[i].clone()
        if steps:
            self._untrained[i] = None

    def _train_pending(self) -> None:
        """The local steps of every peer that started a round since the last call, in one batch.
        A peer's steps depend only on its own model, data and optimizer state, and nothing merges
        into it while it trains, so they may run at any time before its model is read: when it
        sends, at an evaluation, when it starts again after churn. Async peers start at their own
        instants and rarely share a tick; waiting until a model is needed batches all those that
        started within one training time (quickstart: 1.3 peers per batched pass before, about 5 after)."""
        self.train(list(self._untrained))
        self._untrained = {}

    def tick(self) -> float:
        """The async engine's time step: events closer together than this are processed together."""
        c = self.config
        train = c.genesis.training.local_steps * c.peers.step_seconds / c.peers.speed_max
        candidates = [v for v in (train / 4, c.link.latency / 2) if v > 0]
        return max(1e-3, min(candidates)) if candidates else 1e-3

    def _apply(self, event: ChurnEvent) -> None:
        peer = self.peers[event.peer]
        if event.kind in ("leave", "crash"):
            peer.online = False
            self.live.leave(event.peer)
        elif event.kind == "join":
            if not peer.online:
                peer.online = True
                peer.clock = event.time
                self.live.join(event.peer)
                self._start_round(event.peer)
        elif event.kind == "partition":
            self.live.set_group(event.peer, event.group)
        elif event.kind == "heal":
            self.live.set_group(event.peer, 0)

    def _apply_due(self, pending: deque[ChurnEvent]) -> None:
        while pending and pending[0].time <= self.now + 1e-12:
            self._apply(pending.popleft())

    def _run_async(self, bar: tqdm) -> None:
        c = self.config
        dt = self.tick()
        events = sorted((e for e in churn_events(c, self.graph, self.seed) if e.time <= c.run.duration),
                        key=lambda e: e.time)
        for index in churn.initially_offline(events):
            self.peers[index].online = False
            self.live.leave(index)
        self._starts: dict[int, torch.Tensor] = {}
        for i, peer in enumerate(self.peers):
            if peer.online:
                self._start_round(i)
        self.evaluate(0.0)  # the models as they start, as the nodes engine sees them before any peer trains
        next_eval, pending = c.run.eval_every, deque(events)
        gossip_steps = c.genesis.training.gossip_steps
        while True:
            due = [p.until for p in self.peers if p.online]
            if self._flight:
                due.append(self._flight[0][0])
            if pending:
                due.append(pending[0].time)
            moment = min(next_eval, c.run.duration)
            target = min([*due, moment])
            if target > self.now:  # on to the tick that holds the next event; no tick runs past an
                # evaluation or a churn event, which is applied at the tick's end: what a peer did
                # before it left in the same tick still happens, as in a node
                self.now = min(math.ceil(target / dt - 1e-9) * dt, moment, *([pending[0].time] if pending else []))
                bar.update(max(0.0, round(self.now - bar.n, 6)))  # between evaluations
            if target >= moment - 1e-9:
                # everything due before the grid time has happened, nothing later has: evaluate
                # (after the churn of that instant, as the nodes engine orders them)
                self._apply_due(pending)
                self._train_pending()
                self.evaluate(moment)
                bar.update(max(0.0, round(moment - bar.n, 6)))
                show_progress(bar, self.metrics, self._honest_rounds())
                if moment >= c.run.duration - 1e-9:
                    break
                next_eval += c.run.eval_every
            self._deliver(self.now)
            done = [i for i, p in enumerate(self.peers) if p.online and p.phase == "collect"
                    and p.until <= self.now + 1e-12]
            for i in done:  # a window that closed short: the missing updates took longer (as in the node)
                peer = self.peers[i]
                peer.delays.extend(censored_waits(peer.window, peer.expected, len(peer.inbox)))
                peer.clock = peer.until
            self._aggregate(done)
            for i in done:  # what came after its window closed: the next window's, or its training's
                peer = self.peers[i]
                peer.waiting, peer.later = peer.later, []
            again = [i for i in done if self.peers[i].step + 1 < gossip_steps]
            finished = [i for i in done if self.peers[i].step + 1 >= gossip_steps]
            if self.momentum is not None:
                moving = [i for i in finished if i in self._trains]
                if moving:
                    self._momentum_step(moving, torch.stack([self._starts[i] for i in moving]))
            for i in again:
                self.peers[i].step += 1
            for i in finished:
                self.peers[i].round += 1
                self.peer_rounds += 1
                self._start_round(i)
            trained = [i for i, p in enumerate(self.peers) if p.online and p.phase == "train"
                       and p.until <= self.now + 1e-12]
            if any(i in self._untrained for i in trained):
                self._train_pending()
            for i in trained:  # it sends when its training ended, not at the end of the tick
                self.peers[i].clock = self.peers[i].until
            self._send_round(again + trained, self._starts)
            self._apply_due(pending)


    # running -----------------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        started = time.perf_counter()
        interrupted = False
        self.stop_requested = False
        try:
            with progress_bar(self.config, self.progress) as bar, stop_after_round(self, bar):
                self._run_sync(bar) if self.config.run.mode == "sync" else self._run_async(bar)
        except KeyboardInterrupt:
            interrupted = True  # what was measured so far is still worth writing
        self._train_pending()  # the final models are the trained ones, as in a node that started its round
        interrupted |= self.resumable and self.rounds_done < self.config.run.rounds  # stopped at a round boundary
        wall = self.wall_before + time.perf_counter() - started
        self.wall_before = wall
        summary = self.metrics.summary()
        rejected: Counter = Counter()
        for p in self.peers:
            rejected.update(p.rejected)
        if self.aggregate.refused:
            rejected["rule_not_finite"] += self.aggregate.refused
        summary.update(
            name=self.config.run.name, seed=self.seed, mode=self.config.run.mode, baseline="none",
            engine=self.engine, peer_rounds=self.peer_rounds, wall_seconds=round(wall, 3),
            peer_rounds_per_second=round(self.peer_rounds / wall, 2) if wall > 0 else None,
            training_share_of_wall=round(self.train_seconds / wall, 4) if wall > 0 else None,
            rejected_messages=dict(rejected), frames_lost=self.frames_lost,
            adversarial_peers=self.adversarial, config=self.config.to_dict(), interrupted=interrupted,
            **merge_statistics(self.merge_sizes),
        )
        return summary
