"""An attacker against real peer processes on 127.0.0.1, with the default genesis.

Two testnets of two honest peers run side by side (so machine noise hits both alike); one of
them is attacked. The attacks are the ones that wrecked an open network before admission:
2 000 fresh identities sending poisoned updates over one connection, a replay after that
flood, and MQTT clients that try to read, clear or frame other peers.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path

import aiomqtt
import pytest
import torch

from gossip import wire
from gossip.codecs import make_codec
from gossip.identity import Identity
from gossip.payloads import encode_hello, encode_update
from gossip.transport.mqtt_auth import Credentials
from gossip.transport.p2p import Libp2pTransport
from peer.adapters import Adapter
from peer.genesis import default_genesis_text, load_genesis
from peer.testnet import Testnet, issue_credentials, stop, up
from peer.workloads import build_workload
from tests.test_daemon_processes import status, wait_until

EVAL_EVERY = 2
ARGS = ["--round-seconds", "0.3", "--eval-every", str(EVAL_EVERY)]
SYBILS = 2000
FLOOD_SECONDS = 20.0
EVALUATIONS = 20  # per peer after the attack: one evaluation moves by about 0.01 from the next, their mean far less


def signed(identity: Identity, kind: str, body, net: bytes, seq: int = 1) -> bytes:
    envelope = wire.Envelope(kind=kind, sender=identity.peer_id, seq=seq, round=0, t=0, body=bytes(body), net=net)
    return wire.encode(envelope, identity)


def sybil_frames(testnet: Testnet) -> list[bytes]:
    """2 000 fresh identities' signed updates full of 3.0, valid in every other respect."""
    genesis = load_genesis(testnet.genesis)
    spec = Adapter(build_workload(genesis).build_base(), genesis).spec
    g = genesis.gossip
    poison = encode_update(torch.full((spec.numel,), 3.0), spec, make_codec(g.codec, topk_fraction=g.topk_fraction,
                                                                              int8_chunk=g.int8_chunk))
    return [signed(Identity.generate(), "update", poison, genesis.network_id) for _ in range(SYBILS)]


async def sybil_flood(testnet: Testnet, frames: list[bytes], seconds: float, *, replay: bool = False) -> dict:
    """Against each honest peer: the frames over one connection, again and again for `seconds`.
    With `replay`, a newcomer says hello over its own connection first and sends that same
    hello again after the flood."""
    targets = [status(p) for p in testnet.peers]
    flooder = Libp2pTransport(Identity.generate())
    newcomer = Libp2pTransport(Identity.generate()) if replay else None
    transports = [t for t in (flooder, newcomer) if t is not None]
    for transport in transports:
        await transport.start()
        for s in targets:
            transport.learn(s["peer_id"], s["addrs"])
    sent = {"frames": 0, "flooder": flooder.address}
    try:
        if newcomer is not None:
            hello = signed(newcomer.identity, "hello", encode_hello(newcomer.addrs, 0), load_genesis(
                testnet.genesis).network_id)
            for s in targets:
                assert await newcomer.send(s["peer_id"], hello)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for start in range(0, SYBILS, 100):
                results = await asyncio.gather(*(flooder.send(s["peer_id"], frame) for s in targets
                                                 for frame in frames[start:start + 100]))
                sent["frames"] += sum(results)
        if newcomer is not None:
            for s in targets:
                assert await newcomer.send(s["peer_id"], hello)
        return sent
    finally:
        for transport in transports:
            await transport.stop()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def progress(testnet: Testnet) -> tuple[int, float]:
    """Rounds run and CPU seconds used, summed over the testnet's peers (not round numbers: those
    jump when a peer catches up with the others)."""
    return sum(status(p)["rounds_run"] for p in testnet.peers), sum(cpu_seconds(p.pid) for p in testnet.peers)


def rounds(testnet: Testnet) -> list[int]:
    return [status(p)["round"] for p in testnet.peers]


def accuracies_after(peer, after_round: int) -> list[float]:
    """The accuracies a peer logged at its evaluations past `after_round` (a line still being
    written is left for the next read)."""
    found = []
    for line in Path(peer.log).read_text().splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if (row.get("msg") == "round" and row["round"] > after_round and row["eval_round"] == row["round"]
                and row["accuracy"] is not None):
            found.append(row["accuracy"])
    return found


@pytest.mark.slow
def test_a_sybil_flood_over_one_connection_changes_neither_accuracy_nor_round_rate(tmp_path):
    quiet = up(tmp_path / "quiet", 1, "libp2p", genesis_text=default_genesis_text(), peer_args=ARGS)
    attacked = up(tmp_path / "attacked", 1, "libp2p", genesis_text=default_genesis_text(), peer_args=ARGS)
    try:
        probation = load_genesis(attacked.genesis).admission.probation_rounds
        wait_until(lambda: min(rounds(quiet) + rounds(attacked)) > probation, what="rounds past probation")
        frames = sybil_frames(attacked)
        before = {"quiet": progress(quiet), "attacked": progress(attacked)}
        sent = asyncio.run(sybil_flood(attacked, frames, FLOOD_SECONDS))
        during = {k: tuple(a - b for a, b in zip(progress(net), before[k], strict=True))
                  for k, net in (("quiet", quiet), ("attacked", attacked))}
        print(f"during the flood (rounds, CPU s): {during}; frames the flooder got written: {sent['frames']}")
        assert during["attacked"][0] >= 0.8 * during["quiet"][0], during

        again = asyncio.run(sybil_flood(attacked, frames, 3.0, replay=True))  # a newcomer's hello, flood, replay
        wait_until(lambda: all(status(p)["rejected"].get("replay", 0) >= 1 for p in attacked.peers),
                   what="the replayed hello refused")
        for peer in attacked.peers:
            s = status(peer)
            assert {sent["flooder"], again["flooder"]} <= set(s["banned"])
            assert s["rejected"].get("sender_mismatch", 0) >= 2          # fresh keys over someone else's connection
            assert s["rejected"].get("replay", 0) >= 1                   # the newcomer's hello, sent again
            assert s["dropped"].get("banned", 0) + s["dropped"].get("rate_limited", 0) > 0
            assert s["admission"]["members"] == 2                        # the other honest peer and the newcomer
            assert s["replay_windows"]["members"] + s["replay_windows"]["strangers"] <= 3  # none of the 2 000

        # Both testnets learn on after the attack; compare them by their mean over many evaluations,
        # since a single one is noisier than the margin (it moved 0.90-0.94 on one plateau).
        ended = {p.log: status(p)["round"] for p in quiet.peers + attacked.peers}
        wait_until(lambda: all(len(accuracies_after(p, ended[p.log])) >= EVALUATIONS
                               for p in quiet.peers + attacked.peers),
                   timeout=180, what=f"{EVALUATIONS} evaluations after the attack everywhere")
        accuracy = {name: sum(sum(accuracies_after(p, ended[p.log])[:EVALUATIONS]) / EVALUATIONS
                              for p in net.peers) / len(net.peers)
                    for name, net in (("quiet", quiet), ("attacked", attacked))}
        print(f"mean honest accuracy over {EVALUATIONS} evaluations after the attack: {accuracy}")
        assert accuracy["quiet"] > 0.7, accuracy  # the workload learned at all, or the comparison means nothing
        assert abs(accuracy["attacked"] - accuracy["quiet"]) <= 0.03, accuracy
    finally:
        stop(quiet, timeout=10)
        stop(attacked, timeout=10)


def boot_log_problems(peer) -> str:
    """The warnings and errors of a peer's log, for a failure message."""
    lines = Path(peer.log).read_text().splitlines()
    return "\n".join(line for line in lines if '"level": "warning"' in line or '"level": "error"' in line)[-4000:]


def test_mqtt_broker_refuses_strangers_and_spies_and_nobody_can_frame_an_honest_peer(tmp_path):
    testnet = up(tmp_path, 1, "mqtt", genesis_text=default_genesis_text(), peer_args=ARGS)
    try:
        boot, honest = testnet.peers
        s_boot, s_honest = status(boot), status(honest)
        host, port = testnet.bootstrap.removeprefix("mqtt://").split(":")
        prefix = f"lg/{s_boot['network_id']}"

        async def attack() -> None:
            with pytest.raises(aiomqtt.MqttError):  # anonymous: refused at CONNECT
                async with aiomqtt.Client(host, int(port), timeout=10) as client:
                    await client.subscribe("#")
            # a peer with credentials of its own (the testnet issued them), trying the framing trick
            spy_dir = tmp_path / "peers" / "spy"
            issue_credentials(tmp_path, spy_dir)
            spy = Credentials.load(spy_dir / "mqtt-credentials.json")
            async with aiomqtt.Client(host, int(port), username=spy.username, password=spy.password,
                                      identifier=f"lg-{spy.username}", timeout=10) as client:
                granted = await client.subscribe(f"{prefix}/inbox/{s_boot['peer_id']}/+")
                assert granted[0] == 128
                for _ in range(40):  # garbage in the victim's inbox with an honest peer's id as FROM
                    await client.publish(f"{prefix}/inbox/{s_boot['peer_id']}/{s_honest['peer_id']}", b"x" * 64,
                                         qos=1)
                # garbage under its own id: it reaches the victim, is refused, strikes nobody. QoS 1 ends
                # at the broker, and a loaded victim may miss some frames, so it keeps sending until 40
                # were counted (the limiter's burst of 100 frames stays far away: 40 per two seconds)
                deadline = time.monotonic() + 120
                while unverified() < 40 and time.monotonic() < deadline:
                    for _ in range(40):
                        await client.publish(f"{prefix}/inbox/{s_boot['peer_id']}/{spy.username}", b"x" * 64, qos=1)
                    await asyncio.sleep(2.0)

        def unverified() -> int:
            return status(boot)["dropped"].get("unverified", 0)

        asyncio.run(asyncio.wait_for(attack(), 180))
        assert unverified() >= 40, boot_log_problems(boot)
        after = status(boot)
        assert after["banned"] == []                  # neither the honest peer nor (unverified) the spy
        assert after["broker_refused"]["connect"] >= 1
        assert after["broker_refused"]["subscribe"] >= 1 and after["broker_refused"]["publish"] >= 40
        rounds_now = status(honest)["round"]
        wait_until(lambda: status(boot)["messages_received"] > s_boot["messages_received"]
                   and status(honest)["round"] >= rounds_now + 3, what="the honest peers still gossiping")
    finally:
        stop(testnet, timeout=10)
