"""The peer daemon: one `PeerNode` on a real transport, until SIGINT/SIGTERM.

It wires what the simulator wires differently: a libp2p or MQTT transport instead of the
memory one, a Cyclon membership instead of a fixed graph, the real clock, a state directory
(identity key, checkpoints, known peers, `daemon.json`), a status endpoint and a reachability
check. On a signal it lets the running round finish (bounded), waits for a training step still
in its thread, writes a final checkpoint and closes the transport. A restart with the same
state directory resumes from the newest checkpoint; a `kill -9` loses at most one round.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import logging
import math
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gossip import wire
from gossip.identity import Identity
from gossip.transport import Address, NetworkTransport
from gossip.transport.broker import BrokerUrl, EmbeddedBroker, parse_broker_url
from gossip.transport.mqtt_auth import Credentials, load_secret, new_secret, save_secret
from gossip.transport.tls import make_self_signed
from peer import reachability
from peer.adapters import Adapter
from peer.atomic import write_json_atomic
from peer.checkpoint import CheckpointStore
from peer.data import TensorData
from peer.device import pick_device
from peer.genesis import load_genesis
from peer.membership import Membership, split_bootstrap
from peer.node import PeerNode
from peer.partition import partition
from peer.peer_settings import PeerSettings
from peer.shards import load_shard
from peer.status_http import StatusServer
from peer.trainer import Trainer
from peer.workloads import Workload, build_workload

log = logging.getLogger("loragossip.daemon")
TRANSPORTS = ("libp2p", "mqtt")
DEMO_SHARDS = 8
# Honest peers do these: QoS-1 redelivery and retained hellos repeat messages; a newcomer on
# probation, or one that knows this peer before this peer knows it, sends updates that do not count.
NOT_STRUCK = {"replay", "not_neighbour", "probation", "newcomer_budget"}
CREDENTIALS_FILE = "mqtt-credentials.json"
BROKER_SECRET_FILE = "broker.secret"


@dataclass
class DaemonOptions:
    genesis: Path
    state_dir: Path
    data: Path | None = None            # the peer's private shard (safetensors); None: a demo shard
    workload_data: Path | None = None   # text workloads: the folder with the TSV files
    listen: str = "/ip4/127.0.0.1/tcp/0"
    bootstrap: list[str] = field(default_factory=list)
    transport: str = "libp2p"
    broker: str | None = None           # mqtt: an external broker; None: bootstrap URL or embedded
    mqtt_credentials: Path | None = None  # mqtt: user/password file; default STATE/mqtt-credentials.json
    broker_secret: Path | None = None   # hosting the embedded broker: its secret (default STATE/broker.secret)
    broker_tls: bool = False            # hosting: serve mqtts:// with a self-signed certificate in STATE
    broker_ca: Path | None = None       # mqtts: the certificate to trust
    status_host: str = "127.0.0.1"
    status_port: int = 0
    eval_every: int = 5                 # rounds between evaluations
    eval_samples: int = 1000
    round_seconds: float = 1.0          # a round lasts at least this long (no busy loop when alone)
    rounds: int | None = None           # stop after this many rounds (tests, benchmarks)
    init: str = "shared"                # shared | own (each peer's trainable part from its own seed)
    device: str | None = None
    settings: PeerSettings = field(default_factory=PeerSettings)  # every timeout and bound (`--settings FILE`)


def _finite(value: float) -> float | None:
    """JSON has no NaN: a metric not measured yet is null."""
    return value if math.isfinite(value) else None


def seed_from(identity: Identity, purpose: str) -> int:
    """A peer's own seed for one purpose (init, batches, ...), fixed by its key: restarts draw the same."""
    return int.from_bytes(hashlib.sha256(identity.seed + purpose.encode()).digest()[:8], "little")


def _demo_shard(workload: Workload, identity: Identity) -> TensorData:
    shares = partition(workload.train.labels.numpy(), DEMO_SHARDS, "iid", seed=0)
    return workload.train.subset(shares[seed_from(identity, "demo-shard") % DEMO_SHARDS])


def _check_addresses(o: DaemonOptions) -> None:
    """Listen, bootstrap and broker addresses parse (ValueError naming the bad one), before anything is written."""
    if o.transport == "libp2p":
        import multiaddr

        try:
            multiaddr.Multiaddr(o.listen)
        except Exception as exc:  # multiaddr raises several types for a malformed address
            raise ValueError(f"--listen {o.listen!r} is not a multiaddr such as /ip4/0.0.0.0/tcp/4001: {exc}") from exc
    for address in o.bootstrap:
        if address.startswith(("mqtt://", "mqtts://")):
            parse_broker_url(address)
        else:
            split_bootstrap(address)
    if o.broker is not None:
        parse_broker_url(o.broker)


class Daemon:
    def __init__(self, options: DaemonOptions) -> None:
        o = self.options = options
        if o.transport not in TRANSPORTS:
            raise ValueError(f"--transport {o.transport!r}: expected one of {', '.join(TRANSPORTS)}")
        if o.init not in ("shared", "own"):
            raise ValueError(f"--init {o.init!r}: expected shared or own")
        # every input is checked before anything is written
        self.genesis = load_genesis(o.genesis)
        self.workload = build_workload(self.genesis, o.workload_data)
        data = load_shard(o.data, self.workload) if o.data is not None else None
        device = pick_device(o.device)
        adapter = Adapter(self.workload.build_base(device), self.genesis)
        _check_addresses(o)
        o.state_dir.mkdir(parents=True, exist_ok=True)
        self.identity = Identity.load_or_create(o.state_dir / "identity.key")
        if data is None:
            data = _demo_shard(self.workload, self.identity)
            log.warning("no --data given: training on a demo shard of the built-in %s pool", self.workload.name)
        self.test = self.workload.test.subset(range(min(o.eval_samples, len(self.workload.test))))
        if o.init == "own":
            adapter.reinit_trainable(seed_from(self.identity, "init"))
        self.trainer = Trainer(adapter, data, self.genesis.training, device, seed_from(self.identity, "batches"),
                               classes=self.workload.num_classes)
        self.broker: EmbeddedBroker | None = None
        self.transport = self._make_transport()
        self.membership = Membership(
            self.identity.peer_id_str, self.transport, [] if o.transport == "mqtt" else o.bootstrap,
            settings=o.settings.membership, state_file=o.state_dir / "peers.json",
            seed=seed_from(self.identity, "membership"), probation_rounds=self.genesis.admission.probation_rounds)
        self.node = PeerNode(self.genesis, self.identity, self.trainer, self.transport, self.membership,
                             settings=o.settings.node,
                             checkpoints=CheckpointStore(o.state_dir / "checkpoints"),
                             seed=seed_from(self.identity, "node"),
                             extensions=(self.membership,), on_reject=self._on_reject)
        self.status_server = StatusServer(self.status, o.status_host, o.status_port)
        self.accuracy = float("nan")
        self.eval_round = -1
        self.resumed_from: int | None = None
        self.problems: list[str] = []
        self.started = time.time()
        self.stop = asyncio.Event()

    def _make_transport(self) -> NetworkTransport:
        o = self.options
        settings = o.settings.net
        if o.transport == "libp2p":
            from gossip.transport.p2p import Libp2pTransport

            return Libp2pTransport(self.identity, o.listen, settings)
        from gossip.transport.mqtt import MqttTransport

        given = o.broker or next((b for b in o.bootstrap if b.startswith(("mqtt://", "mqtts://"))), None)
        if given is None:  # no broker named: this peer hosts one on its --listen address
            self.broker = self._embedded_broker()
            url = self.broker.url_for(self.identity.peer_id_str)
        else:
            url = self._with_credentials(parse_broker_url(given))
        if o.broker_ca is not None:
            url = dataclasses.replace(url, ca_file=str(o.broker_ca))
        return MqttTransport(self.identity.peer_id_str, self.genesis.network_id, url, settings)

    def _embedded_broker(self) -> EmbeddedBroker:
        """The broker this peer hosts: its secret (made once, kept in the state directory unless
        given) issues every peer's credentials; with --broker-tls, a self-signed certificate."""
        o = self.options
        secret = o.broker_secret or o.state_dir / BROKER_SECRET_FILE
        if not secret.exists():
            if o.broker_secret is not None:
                raise ValueError(f"--broker-secret {secret}: no such file")
            save_secret(secret, new_secret())
        load_secret(secret)  # a malformed one is an error now, not when the first peer connects
        host, port = reachability.tcp_endpoint(o.listen) or ("127.0.0.1", 0)
        tls = None
        if o.broker_tls:
            tls = (o.state_dir / "broker-cert.pem", o.state_dir / "broker-key.pem")
            if not tls[0].exists():
                make_self_signed(tls[0], tls[1], host)
        return EmbeddedBroker(secret, host, port, tls=tls)

    def _with_credentials(self, url: BrokerUrl) -> BrokerUrl:
        """Credentials from the URL, else from --mqtt-credentials, else from the state directory."""
        o = self.options
        path = o.mqtt_credentials or o.state_dir / CREDENTIALS_FILE
        if url.username is not None or (o.mqtt_credentials is None and not path.exists()):
            return url
        credentials = Credentials.load(path)
        if credentials.username != self.identity.peer_id_str:
            raise ValueError(f"MQTT credentials {path} are for {credentials.username}, not for this peer "
                             f"({self.identity.peer_id_str}); the broker would refuse them")
        return url.with_credentials(credentials.username, credentials.password)

    def _on_reject(self, address: Address, reason: str, signer: bytes | None) -> None:
        if reason not in NOT_STRUCK:
            self.transport.strike(address, signer)

    # status ------------------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        status = self.node.status()
        status.update(
            accuracy=_finite(self.accuracy), loss=_finite(self.node.last_loss), eval_round=self.eval_round,
            transport=self.options.transport,
            addrs=self.transport.addrs, neighbour_ids=self.membership.neighbours(),
            dropped=dict(self.transport.dropped), banned=self.transport.banned(), rejoins=self.membership.rejoins,
            admission={"refused": dict(self.membership.refused), "members": len(self.membership.addrs),
                       "on_probation": sum(self.membership.standing(p) == "probation" for p in self.membership.addrs),
                       "probation_rounds": self.membership.probation_rounds},
            broker_refused=dict(self.broker.refusals) if self.broker is not None else None,
            rounds_run=self.membership.rounds_run,  # since this start; `round` may jump to catch up
            replay_windows={"members": self.node.guard.senders(member=True),
                            "strangers": self.node.guard.senders(member=False)},
            reconnects=self.transport.reconnects, resumed_from_round=self.resumed_from,
            reachability=self.problems or "ok", uptime_s=round(time.time() - self.started, 1),
            network_id=self.genesis.network_id.hex(), pid=os.getpid())
        return status

    def _write_daemon_file(self, state: str) -> None:
        write_json_atomic(self.options.state_dir / "daemon.json", {
            "state": state, "pid": os.getpid(), "peer_id": self.identity.peer_id_str,
            "addrs": self.transport.addrs, "status_url": self.status_server.url,
            "transport": self.options.transport, "network_id": self.genesis.network_id.hex()})

    # the loop ----------------------------------------------------------------------------------
    async def _rounds(self) -> None:
        o = self.options
        while not self.stop.is_set():
            started = time.monotonic()
            await self.node.run_round()
            # On crossing a multiple of eval_every, not on landing on one: the round number may
            # jump past it to catch up with the network.
            if self.node.round // o.eval_every > max(self.eval_round, 0) // o.eval_every:
                _, self.accuracy = await asyncio.to_thread(self.trainer.evaluate, self.test)
                self.eval_round = self.node.round
            log.info("round", extra={
                "round": self.node.round, "loss": _finite(self.node.last_loss), "accuracy": _finite(self.accuracy),
                "eval_round": self.eval_round,
                "received": self.node.messages_received, "neighbours": len(self.membership.neighbours()),
                "bytes_sent": self.node.bytes_sent, "bytes_received": self.node.bytes_received,
                "window_s": round(self.node.window(), 3)})
            if o.rounds is not None and self.node.round >= o.rounds:
                self.stop.set()
            pause = o.round_seconds - (time.monotonic() - started)
            if pause > 0:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(pause):
                        await self.stop.wait()

    async def _announce(self) -> None:
        """A signed hello where the transport keeps one (MQTT: retained on the broker)."""
        envelope = self.node.next_envelope("hello", self.membership.hello_body())
        await self.transport.announce(wire.encode(envelope, self.identity))

    async def run(self) -> int:
        o = self.options
        if self.node.restore_checkpoint():
            self.resumed_from = self.node.round
            log.info("resumed from checkpoint", extra={"round": self.node.round})
        if self.broker is not None:
            await self.broker.start()
        await self.transport.start()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.stop.set)
        try:
            self.problems = await reachability.check(self.transport.addrs, o.bootstrap)
            for problem in self.problems:
                log.warning("reachability: %s", problem)
            await self._announce()
            await self.status_server.start()
            self._write_daemon_file("running")
            log.info("peer started", extra={"peer_id": self.identity.peer_id_str, "addrs": self.transport.addrs,
                                            "status_url": self.status_server.url,
                                            "network_id": self.genesis.network_id.hex()})
            rounds = asyncio.create_task(self._rounds(), name="rounds")
            upkeep = asyncio.create_task(self.membership.maintain(), name="membership")
            stopped = asyncio.create_task(self.stop.wait())
            await asyncio.wait([rounds, stopped], return_when=asyncio.FIRST_COMPLETED)
            upkeep.cancel()
            if not rounds.done():
                done, _ = await asyncio.wait([rounds], timeout=o.settings.daemon.shutdown_grace)
                if not done:
                    rounds.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await rounds  # re-raises a failure of the round loop
            with contextlib.suppress(asyncio.CancelledError):
                await upkeep
        finally:
            await self._shutdown()
        return 0

    async def _shutdown(self) -> None:
        await self.node.idle()
        self.node.save_checkpoint()
        self.membership.save()
        await self.status_server.stop()
        await self.transport.stop()
        if self.broker is not None:
            await self.broker.stop()
        self._write_daemon_file("stopped")
        log.info("peer stopped after a final checkpoint", extra={"round": self.node.round})
