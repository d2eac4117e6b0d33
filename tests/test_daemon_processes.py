"""Real peer processes on 127.0.0.1: convergence over libp2p and MQTT, kill -9 and resume, another
network's peer, a flooding peer. Every process is stopped by the fixtures, even when a test fails."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import time
from pathlib import Path

import pytest
import torch

from gossip.identity import Identity
from gossip.transport.p2p import Libp2pTransport
from gossip.transport.settings import NetSettings
from peer.adapters import Adapter
from peer.checkpoint import CheckpointStore
from peer.daemon import seed_from
from peer.genesis import default_genesis_text, load_genesis
from peer.status_http import fetch_status
from peer.testnet import Testnet, alive, spawn_peer, stop, up, wait_started
from peer.workloads import build_workload

PEER_ARGS = ["--round-seconds", "0.3", "--init", "own", "--eval-every", "2"]


def status(peer) -> dict:
    info = json.loads((Path(peer.state_dir) / "daemon.json").read_text())
    return fetch_status(info["status_url"])


def wait_until(predicate, timeout=90.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.3)
    raise AssertionError(f"{what} not reached within {timeout:.0f} s")


def start_testnet(directory: Path, transport: str) -> Testnet:
    return up(directory, 2, transport, genesis_text=default_genesis_text(), peer_args=PEER_ARGS)


@pytest.fixture(scope="module")
def libp2p_net(tmp_path_factory):
    directory = tmp_path_factory.mktemp("libp2p-net")
    testnet = start_testnet(directory, "libp2p")
    yield testnet
    graceful, killed = stop(Testnet.load(directory), timeout=20)
    assert len(graceful) == 3
    assert not Testnet.load(directory).running()
    assert killed == []  # SIGTERM was enough: each peer wrote its final checkpoint and said so
    for peer in Testnet.load(directory).peers:
        assert json.loads((Path(peer.state_dir) / "daemon.json").read_text())["state"] == "stopped"
        lines = Path(peer.log).read_text().splitlines()
        # log.jsonl parses from line 1 (a peer killed with SIGKILL may leave a torn line further on)
        assert [json.loads(line)["msg"] for line in lines[:1]] == ["peer starting"]


def initial_vector(peer, genesis) -> torch.Tensor:
    """What the peer started from: its own-seed init (`--init own`), rebuilt from its key."""
    adapter = Adapter(build_workload(genesis).build_base(), genesis)
    adapter.reinit_trainable(seed_from(Identity.load(Path(peer.state_dir) / "identity.key"), "init"))
    return adapter.get_vector()


def current_vector(peer) -> torch.Tensor:
    return CheckpointStore(Path(peer.state_dir) / "checkpoints").load()[0]["adapter"]


def assert_converges(testnet: Testnet, mixing_rounds: int = 10) -> None:
    """Pairwise distances at least halve within `mixing_rounds` after the newcomers' probation."""
    genesis = load_genesis(testnet.genesis)
    rounds = mixing_rounds + genesis.admission.probation_rounds
    wait_until(lambda: all(status(p)["rounds_run"] >= rounds for p in testnet.peers),  # round numbers may jump
               what=f"{rounds} rounds run everywhere")
    pairs = list(itertools.combinations(testnet.peers, 2))
    start = {p.name: initial_vector(p, genesis) for p in testnet.peers}
    now = {p.name: current_vector(p) for p in testnet.peers}
    before = min(float((start[a.name] - start[b.name]).norm()) for a, b in pairs)
    after = max(float((now[a.name] - now[b.name]).norm()) for a, b in pairs)
    seen = [{k: status(p).get(k) for k in ("round", "rejected", "dropped", "admission", "messages_received")}
            for p in testnet.peers]
    assert after < 0.5 * before, f"pairwise distance {before:.3f} at the start, {after:.3f} after {rounds} " \
                                 f"rounds; {seen}"
    assert all(status(p)["messages_received"] > 0 for p in testnet.peers)


def test_three_libp2p_peers_exchange_updates_and_converge(libp2p_net):
    assert_converges(libp2p_net)


def test_three_mqtt_peers_with_the_embedded_broker_converge(tmp_path):
    testnet = start_testnet(tmp_path, "mqtt")
    try:
        assert testnet.bootstrap.startswith("mqtt://127.0.0.1:")
        assert_converges(testnet)
    finally:
        stop(testnet, timeout=10)


def test_a_peer_killed_with_sigkill_resumes_from_its_checkpoint_and_rejoins(libp2p_net):
    victim = libp2p_net.peers[2]
    wait_until(lambda: status(victim)["round"] >= 3, what="three rounds")
    os.kill(victim.pid, signal.SIGKILL)
    wait_until(lambda: not alive(victim.pid), timeout=10, what="the kill")
    saved = CheckpointStore(Path(victim.state_dir) / "checkpoints").load()[1]["round"]
    restarted = spawn_peer(libp2p_net.directory, victim.name, victim.arguments)
    libp2p_net.peers[2] = restarted
    libp2p_net.save()
    wait_started(restarted)
    first = status(restarted)
    assert first["resumed_from_round"] == saved >= 3
    wait_until(lambda: status(restarted)["round"] >= saved + 3 and status(restarted)["messages_received"] > 0,
               what="training and receiving again after the restart")


def test_a_peer_of_another_network_is_ignored_and_counted(libp2p_net, tmp_path):
    boot = libp2p_net.peers[0]
    other = tmp_path / "other.toml"
    other.write_text(default_genesis_text().replace('name = "loragossip-default"', 'name = "another-net"'))
    stranger = spawn_peer(tmp_path, "stranger", ["--genesis", str(other), "--bootstrap", libp2p_net.bootstrap,
                                                 *PEER_ARGS])
    try:
        info = wait_started(stranger)
        wait_until(lambda: status(boot)["rejected"].get("wrong_network", 0) > 0, what="a wrong_network rejection")
        assert info["peer_id"] not in status(boot)["neighbour_ids"]
    finally:
        stop(Testnet(tmp_path, "libp2p", str(other), peers=[stranger]), timeout=10)


def test_a_flooding_peer_is_rate_limited_and_banned_while_honest_peers_keep_training(libp2p_net):
    boot, honest = libp2p_net.peers[0], libp2p_net.peers[1]
    rounds_before = status(honest)["round"]

    async def flood() -> str:
        flooder = Libp2pTransport(Identity.generate(), settings=NetSettings(max_frame=128 << 20))
        await flooder.start()
        try:
            flooder.learn(boot_id := boot_peer_id(), [libp2p_net.bootstrap])
            await flooder.send(boot_id, b"\x00" * (100 << 20))   # over the 96 MiB bound: refused from its header
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and flooder.address not in status(boot)["banned"]:
                for _ in range(200):
                    await flooder.send(boot_id, os.urandom(64))  # garbage at full speed
            return flooder.address
        finally:
            await flooder.stop()

    def boot_peer_id() -> str:
        return libp2p_net.bootstrap.rsplit("/p2p/", 1)[1]

    flooder_id = asyncio.run(flood())
    after = status(boot)
    assert flooder_id in after["banned"]
    assert after["dropped"].get("oversized", 0) >= 1
    assert after["rejected"].get("malformed", 0) + after["dropped"].get("rate_limited", 0) > 0
    wait_until(lambda: status(honest)["round"] >= rounds_before + 3, what="honest peers training on")
    assert alive(boot.pid)
