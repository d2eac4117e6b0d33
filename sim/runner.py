"""The simulation runner: N real `PeerNode`s over the memory transport on a virtual clock.

Churn, partitions and attacks come from `topology/` and `robust/`; every peer is evaluated on
the global test set on a fixed grid of virtual times (async) or rounds (sync), giving the
contract's `metrics.csv` rows. Baselines (centralised FedAvg, isolated training) live in
`sim.baselines` and use the same peers' trainers.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from gossip.identity import Identity
from gossip.transport.memory import LinkModel, MemoryNetwork
from peer.adapters import Adapter
from peer.data import TensorData
from peer.device import pick_device
from peer.node import PeerNode
from peer.partition import partition
from peer.seams import Behaviour, FreeRunning, LockStep
from peer.settings import NodeSettings
from peer.trainer import Trainer
from peer.workloads import Workload
from robust.attacks import MODEL_ATTACKS, Backdoor, LabelFlip
from sim.adversaries import Adversary, DataPoisoner, ModelPoisoner, SendLedger, SybilClone
from sim.churn_kinds import CHURN_KINDS, ChurnSetting
from sim.clock import run_virtual
from sim.config import DATA_ATTACKS, SimConfig
from sim.metrics import MetricsLog, merge_statistics
from sim.sampler import GraphSampler
from sim.seeds import derive_seed
from sim.workload import simulation_workload
from topology import churn, graphs
from topology.churn import ChurnEvent
from topology.live import LiveGraph

log = logging.getLogger(__name__)
# Lock-step rounds wait for every neighbour (or 60 s for a lost frame). The adaptive window must
# stay off: its median equals the arrival delay there, so it closed just as the updates arrived.
LOCK_STEP_WINDOW = {"initial_window": 60.0, "min_window": 60.0, "max_window": 60.0}


@dataclass
class SimPeer:
    index: int
    node: PeerNode
    trainer: Trainer
    honest: bool
    online: bool = True
    task: asyncio.Task | None = None


def peer_shares(config: SimConfig, labels: np.ndarray, seed: int) -> list[np.ndarray]:
    """Each peer's indices into the training pool (both engines split it here, from the same seed)."""
    p = config.peers
    return partition(labels, p.count, p.partition, alpha=p.alpha, classes_per_peer=p.classes_per_peer,
                     samples_per_peer=p.samples_per_peer, seed=derive_seed(seed, "partition"))


def simulation_graph(config: SimConfig, seed: int) -> graphs.Graph:
    """The base topology of a run (both engines build it here, from the same seed)."""
    t, n = config.topology, config.peers.count
    if t.graph == "file":
        params: dict[str, Any] = {"path": str(config.resolve(t.path))}
    else:  # the config's names for the generators' parameters; each generator takes what it needs
        params = graphs.parameters_of(t.graph, {"k": t.degree, "p": t.p, "m": t.m})
    graph = graphs.build(t.graph, n, seed=derive_seed(seed, "graph"), **params)
    if graph.n != n:
        raise ValueError(f"topology has {graph.n} nodes but peers.count is {n}")
    return graph


def churn_events(config: SimConfig, graph: graphs.Graph, seed: int) -> list[ChurnEvent]:
    """The run's churn (both engines replay the same events)."""
    c, horizon = config.churn, config.run.duration
    setting = ChurnSetting(c, config.peers.count, horizon, start=c.start or horizon / 3, end=c.end or 2 * horizon / 3,
                           graph=graph, seed=derive_seed(seed, "churn"), resolve=config.resolve)
    return CHURN_KINDS[c.kind](setting)


def data_attack(config: SimConfig, num_classes: int) -> LabelFlip | Backdoor | None:
    """The batch transform of the data-poisoning attack, if the config has one."""
    a = config.attack
    if a.kind == "label_flip":
        return LabelFlip(source=a.source, target=a.target, num_classes=num_classes)
    if a.kind == "backdoor":
        return Backdoor(target=a.target)
    return None


def pick_adversaries(config: SimConfig, rng: np.random.Generator) -> list[int]:
    """The adversarial peers' indices (the first draw of the run's generator, in both engines).

    No adversary without an attack or at `attack.fraction = 0` (a data attack's floor run), and
    then no draw either, so a floor run is its no-attack run with the attack's success measured."""
    a, n = config.attack, config.peers.count
    if a.kind == "none" or a.fraction == 0:
        return []
    return sorted(int(i) for i in rng.choice(n, size=round(a.fraction * n), replace=False))


def peer_identity(seed: int, index: int) -> Identity:
    """Peer `index`'s keys: seeded, so both engines name (and order) the same peers the same way."""
    return Identity.from_seed(derive_seed(seed, "identity", index).to_bytes(32, "little"))


def model_attack(config: SimConfig):
    """The model-poisoning attack of the config, built from `attack.params` (checked by `parse_config`)."""
    return MODEL_ATTACKS[config.attack.kind](**config.attack.params)


def data_boost(config: SimConfig) -> float:
    """A data attack's `attack.params.boost` (the only parameter data attacks take; checked by `parse_config`)."""
    return float(config.attack.params.get("boost", 1.0))


def attack_inputs(attack: LabelFlip | Backdoor | None, test: TensorData) -> TensorData | None:
    """Test inputs on which a data attack's success is measured."""
    if attack is None:
        return None
    key = next(iter(test.features))
    x, y = attack.success_inputs(test.features[key], test.labels)
    return TensorData({key: x}, y)


def progress_bar(config: SimConfig, enabled: bool) -> tqdm:
    """The run's bar: rounds in lock-step mode, virtual seconds otherwise (its rate then reads
    "virtual s/s": simulated seconds per wall-clock second)."""
    sync = config.run.mode == "sync"
    return tqdm(total=config.run.rounds if sync else config.run.duration, unit=" round" if sync else " virtual s",
                desc=config.run.name, disable=not enabled, dynamic_ncols=True, leave=False)


def show_progress(bar: tqdm, metrics: MetricsLog, rounds: list[int]) -> None:
    """The bar's postfix: the honest peers' last evaluated accuracy and the span of their rounds."""
    accuracy = metrics.honest_online_accuracy()
    span = f"{min(rounds)}-{max(rounds)}" if rounds else "-"
    bar.set_postfix(honest_acc=f"{np.mean(accuracy):.3f}" if accuracy else "nan", rounds=span)


PROGRESS_TICKS = 10  # async runs: bar updates per evaluation interval, so it moves between evaluations


class SimulationBase:
    """What both engines set up first, one way for both: the global generator seeded from the
    run, the device, the metrics log, the run's generator, the workload and the base graph."""

    def __init__(self, config: SimConfig, *, seed: int | None = None, progress: bool = True,
                 device: str | None = None) -> None:
        self.config = config
        self.seed = config.run.seed if seed is None else seed
        # Dropout draws from the global generator: seeded from the run, a run gives the same numbers
        # whatever ran before it in the process (a sweep worker, a test), not only in a fresh one.
        torch.manual_seed(derive_seed(self.seed, "torch"))
        self.progress = progress
        self.device = pick_device(device)
        self.metrics = MetricsLog()
        self.rng = np.random.default_rng(derive_seed(self.seed, "sim"))
        self.workload: Workload = simulation_workload(config)
        self.graph = simulation_graph(config, self.seed)


class Simulation(SimulationBase):
    engine = "nodes"
    resumable = False  # its peers are coroutines mid-round: a run cannot be saved (`sim.resume`)

    def __init__(self, config: SimConfig, *, seed: int | None = None, progress: bool = True,
                 device: str | None = None) -> None:
        super().__init__(config, seed=seed, progress=progress, device=device)
        self.live = LiveGraph(self.graph, repair=config.topology.repair, target_degree=config.topology.degree,
                              seed=derive_seed(self.seed, "live"))
        self.network = MemoryNetwork(LinkModel(**vars(config.link)), seed=derive_seed(self.seed, "link"),
                                     reachable=self.live.reachable)
        self.data_attack = data_attack(config, self.workload.num_classes)
        self.adversarial = pick_adversaries(config, self.rng)
        self.ledger = SendLedger(online=self._online_by_id) if config.attack.omniscient else None
        self.peers = self._build_peers()
        self.attack_inputs = attack_inputs(self.data_attack, self.workload.test)
        self.failures: list[BaseException] = []

    # building --------------------------------------------------------------------------------
    def _build_peers(self) -> list[SimPeer]:
        c = self.config
        n = c.peers.count
        shares = peer_shares(c, self.workload.train.labels.numpy(), self.seed)
        settings = NodeSettings(step_seconds=c.peers.step_seconds, **(LOCK_STEP_WINDOW if c.run.mode == "sync" else {}))
        identities = [peer_identity(self.seed, i) for i in range(n)]
        self.index_of = {identity.peer_id: i for i, identity in enumerate(identities)}
        adversary = Adversary(addresses=frozenset(self.adversarial),
                              peer_ids=frozenset(identities[i].peer_id for i in self.adversarial))
        speeds = self.rng.uniform(c.peers.speed_min, c.peers.speed_max, size=n)
        pacer = LockStep(n) if c.run.mode == "sync" else FreeRunning()
        peers = []
        for i in range(n):
            honest = i not in self.adversarial
            adapter = Adapter(self.workload.build_base(self.device), c.genesis)
            if c.peers.init == "own":
                adapter.reinit_trainable(derive_seed(self.seed, "init", i))
            transform = self.data_attack if not honest else None
            trainer = Trainer(adapter, self.workload.train.subset(shares[i]), c.genesis.training, self.device,
                              derive_seed(self.seed, "batches", i), transform=transform,
                              classes=self.workload.num_classes)
            identity = identities[i]
            sampler = GraphSampler(self.live, i, np.random.default_rng(derive_seed(self.seed, "sampler", i)),
                                   send_to_all=c.run.mode == "sync")
            node = PeerNode(c.genesis, identity, trainer, self.network.endpoint(i), sampler, settings=settings,
                            behaviour=self._behaviour(i, adversary), speed=float(speeds[i]),
                            seed=derive_seed(self.seed, "node", i), pacer=pacer)
            peers.append(SimPeer(i, node, trainer, honest))
        if self.ledger is not None:
            for peer in peers:
                if peer.honest:
                    self.ledger.watch(peer.node)
        return peers

    def _behaviour(self, index: int, adversary: Adversary) -> Behaviour | None:
        a = self.config.attack
        if index not in self.adversarial:
            return None
        generator = torch.Generator().manual_seed(derive_seed(self.seed, "attack", index))
        if a.sybil and index != self.adversarial[0]:
            return SybilClone(adversary, a.jitter, generator)
        if a.kind in MODEL_ATTACKS:
            return ModelPoisoner(model_attack(self.config), adversary, generator, self.ledger)
        if a.kind in DATA_ATTACKS:
            return DataPoisoner(adversary, data_boost(self.config))
        return None

    # churn -------------------------------------------------------------------------------------
    def churn_events(self) -> list[ChurnEvent]:
        return churn_events(self.config, self.graph, self.seed)

    def _apply(self, event: ChurnEvent) -> None:
        peer = self.peers[event.peer]
        if event.kind in ("leave", "crash"):
            peer.online = False
            self.live.leave(event.peer)
            if peer.task is not None:
                peer.task.cancel()
                peer.task = None
        elif event.kind == "join":
            peer.online = True
            self.live.join(event.peer)
            self._start(peer)
        elif event.kind == "partition":
            self.live.set_group(event.peer, event.group)
        elif event.kind == "heal":
            self.live.set_group(event.peer, 0)

    def _start(self, peer: SimPeer) -> None:
        if peer.task is None:
            peer.task = asyncio.get_running_loop().create_task(peer.node.run())
            peer.task.add_done_callback(self._watch)

    def _watch(self, task: asyncio.Task) -> None:
        # a Ctrl-C that lands inside a peer's task ends that task too; it is not the peer's failure
        if not task.cancelled() and isinstance(task.exception(), Exception):
            self.failures.append(task.exception())

    # evaluation --------------------------------------------------------------------------------
    def evaluate(self, now: float, rounds: int | None = None) -> None:
        """One metrics row per peer; `rounds` replaces every peer's own round (the baselines count theirs)."""
        vectors = {p.index: p.node.adapter.get_vector() for p in self.peers}
        honest_online = [vectors[p.index] for p in self.peers if p.honest and p.online]
        centre = torch.stack(honest_online).mean(dim=0) if honest_online else None
        for p in self.peers:
            loss, accuracy = p.trainer.evaluate(self.workload.test)
            distance = float(((vectors[p.index] - centre) ** 2).sum()) if centre is not None and p.online \
                else float("nan")
            success = float("nan")
            if self.attack_inputs is not None and self.data_attack is not None:
                success = p.trainer.attack_success(self.attack_inputs, self.data_attack.target)
            peer_round = p.node.round if rounds is None else rounds
            self.metrics.add(time=round(now, 6), round=peer_round, peer=p.index, honest=p.honest, online=p.online,
                             accuracy=accuracy, loss=loss, bytes_sent=p.node.bytes_sent,
                             bytes_received=p.node.bytes_received, consensus_distance=distance,
                             attack_success=success)
        self.metrics.flush()

    def final_vectors(self) -> torch.Tensor:
        """Every peer's trainable vector, `[N, d]` on the CPU (written as `adapters.safetensors`)."""
        return torch.stack([p.node.adapter.get_vector() for p in self.peers])

    def honest_mask(self) -> list[bool]:
        return [p.honest for p in self.peers]

    # running -----------------------------------------------------------------------------------
    async def _run_async(self, bar: tqdm) -> None:
        loop = asyncio.get_running_loop()
        events = self.churn_events()
        for peer in churn.initially_offline(events):
            self.peers[peer].online = False
            self.live.leave(peer)
        for peer in self.peers:
            if peer.online:
                self._start(peer)
        for event in events:
            if event.time <= self.config.run.duration:
                loop.call_at(event.time, self._apply, event)
        self.evaluate(0.0)
        duration, step = self.config.run.duration, self.config.run.eval_every
        ticker = loop.create_task(self._tick(bar, step / PROGRESS_TICKS))
        now = 0.0
        while now < duration - 1e-9 and not self.failures:
            await asyncio.sleep(min(step, duration - now))
            now = loop.time()
            self.evaluate(now)
            bar.update(max(0.0, round(now - bar.n, 6)))
            show_progress(bar, self.metrics, self._honest_rounds())
        ticker.cancel()
        await self._stop()

    async def _tick(self, bar: tqdm, every: float) -> None:
        """Move the bar between evaluations. It only reads: the peers' events keep their order."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(every)
            bar.update(max(0.0, round(min(loop.time(), bar.total) - bar.n, 6)))
            show_progress(bar, self.metrics, self._honest_rounds())

    def _online_by_id(self, peer_id: bytes) -> bool:
        return self.peers[self.index_of[peer_id]].online

    def _honest_rounds(self) -> list[int]:
        return [p.node.round for p in self.peers if p.honest and p.online]

    async def _run_sync(self, bar: tqdm) -> None:
        loop = asyncio.get_running_loop()
        self.evaluate(0.0)
        every = max(1, round(self.config.run.eval_every))
        for r in range(1, self.config.run.rounds + 1):
            await asyncio.gather(*(p.node.run_round() for p in self.peers))
            if r % every == 0 or r == self.config.run.rounds:
                self.evaluate(loop.time())
                show_progress(bar, self.metrics, self._honest_rounds())
            bar.update(1)

    async def _stop(self) -> None:
        tasks = [p.task for p in self.peers if p.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def run(self) -> dict[str, Any]:
        """Run to the end; returns the summary (see `sim.metrics.MetricsLog.summary`)."""
        started = time.perf_counter()
        sync = self.config.run.mode == "sync"
        interrupted = False
        try:
            with progress_bar(self.config, self.progress) as bar:
                run_virtual(self._run_sync(bar) if sync else self._run_async(bar))
        except KeyboardInterrupt:
            interrupted = True  # what was measured so far is still worth writing
        if self.failures:
            raise RuntimeError(f"a peer failed during the simulation: {self.failures[0]!r}") from self.failures[0]
        wall = time.perf_counter() - started
        return {**self._summary(wall), "interrupted": interrupted}

    def _summary(self, wall: float) -> dict[str, Any]:
        summary = self.metrics.summary()
        peer_rounds = sum(p.node.round for p in self.peers)
        train = sum(p.node.train_seconds for p in self.peers)
        rejected: dict[str, int] = {}
        merges: Counter = Counter()
        for p in self.peers:
            for reason, count in p.node.rejected.items():
                rejected[reason] = rejected.get(reason, 0) + count
            if p.honest:
                merges.update(p.node.merge_sizes)
        summary.update(
            name=self.config.run.name, seed=self.seed, mode=self.config.run.mode, baseline="none",
            engine=self.engine, peer_rounds=peer_rounds, wall_seconds=round(wall, 3),
            peer_rounds_per_second=round(peer_rounds / wall, 2) if wall > 0 else None,
            training_share_of_wall=round(train / wall, 4) if wall > 0 else None,
            rejected_messages=rejected, frames_lost=self.network.frames_dropped,
            adversarial_peers=self.adversarial, config=self.config.to_dict(), **merge_statistics(merges),
        )
        return summary
