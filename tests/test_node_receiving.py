"""What `PeerNode.handle` lets through (the transport's sender, members only, replay windows), and round catch-up."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest
import torch

from gossip import wire
from gossip.identity import Identity
from gossip.payloads import encode_update
from peer.adapters import Adapter
from peer.genesis import Genesis
from peer.node import PeerNode
from peer.settings import NodeSettings
from peer.trainer import Trainer
from peer.workloads import build_workload

GENESIS = Genesis()
SYBILWALL = dataclasses.replace(GENESIS, aggregation=dataclasses.replace(GENESIS.aggregation, rule="sybilwall",
                                                                         params={}))


class Hellos:
    """An extension that takes hellos and does nothing with them (membership's place)."""

    def __init__(self) -> None:
        self.heard: list[bytes] = []

    def attach(self, node) -> None:
        node.route("hello", lambda envelope, address: self.heard.append(envelope.sender))


class VouchingTransport:
    """A transport that vouches for whoever `vouch` maps an address to (like libp2p's Noise id)."""

    address = "me"

    def __init__(self) -> None:
        self.vouch: dict[str, bytes] = {}

    def set_handler(self, handler) -> None:
        pass

    async def send(self, to, data) -> bool:
        return True

    def sender_of(self, address):
        return self.vouch.get(address)


class Standings:
    def __init__(self) -> None:
        self.of: dict[str, str] = {}

    def neighbours(self):
        return list(self.of)

    def targets(self, k):
        return []

    def standing(self, address):
        return self.of.get(address, "stranger")


@pytest.fixture(scope="module")
def parts():
    workload = build_workload(GENESIS)
    return workload, Adapter(workload.build_base(), GENESIS)


@pytest.fixture
def node(parts):
    workload, adapter = parts
    trainer = Trainer(adapter, workload.train.subset(range(64)), GENESIS.training, torch.device("cpu"), 0)
    rejected: list[tuple[str, str, bytes | None]] = []
    node = PeerNode(SYBILWALL, Identity.generate(), trainer, VouchingTransport(), Standings(), extensions=(Hellos(),),
                    on_reject=lambda address, reason, signer: rejected.append((address, reason, signer)))
    node.rejections = rejected  # type: ignore[attr-defined]
    return node


def deliver(node: PeerNode, address: str, data: bytes) -> None:
    """`handle` runs on the node's event loop (it stamps arrivals with the loop's clock)."""
    async def on_loop() -> None:
        node.handle(address, data)

    asyncio.run(on_loop())


def frame(node: PeerNode, signer: Identity, seq: int = 1, kind: str = "update", body: bytes | None = None) -> bytes:
    if body is None:
        body = bytes(encode_update(torch.zeros(node.spec.numel), node.spec, node.codec))
    envelope = wire.Envelope(kind=kind, sender=signer.peer_id, seq=seq, round=0, t=0, body=body, net=node.net)
    return wire.encode(envelope, signer)


def test_a_frame_signed_by_another_key_than_the_transport_vouches_for_is_refused(node):
    honest, forger = Identity.generate(), Identity.generate()
    node.transport.vouch["conn"] = honest.peer_id
    node.sampler.of["conn"] = "member"
    deliver(node, "conn", frame(node, forger))
    assert node.rejected == {"sender_mismatch": 1} and not node.received
    assert node.rejections == [("conn", "sender_mismatch", None)]  # nobody verifiably signed it for conn
    deliver(node, "conn", frame(node, honest))
    assert honest.peer_id in node.received


@pytest.mark.parametrize("standing, reason", [("stranger", "not_neighbour"), ("probation", "probation")])
def test_updates_and_histories_from_non_members_are_dropped_before_their_bodies_are_decoded(node, standing, reason):
    sender = Identity.generate()
    node.transport.vouch["a"] = sender.peer_id
    if standing != "stranger":
        node.sampler.of["a"] = standing
    deliver(node, "a", frame(node, sender, body=b"not an update body at all"))  # a member's would be "schema"
    deliver(node, "a", frame(node, sender, seq=2, kind="history", body=b"nor a history"))
    assert node.rejected == {reason: 2} and not node.received
    assert node.rejections == [("a", reason, sender.peer_id)] * 2
    node.sampler.of["a"] = "member"
    deliver(node, "a", frame(node, sender, seq=3, body=b"not an update body at all"))
    assert node.rejected[reason] == 2 and sum(node.rejected.values()) == 3  # now it was decoded, and refused


def test_a_replay_is_refused_after_a_flood_of_fresh_identities(node):
    member = Identity.generate()
    node.sampler.of["m"] = "member"
    node.transport.vouch["m"] = member.peer_id
    first = frame(node, member, seq=7)
    deliver(node, "m", first)
    for _ in range(300):  # strangers' hellos: each a fresh key with its own replay window
        stranger = Identity.generate()
        deliver(node, "s", frame(node, stranger, kind="hello", body=b""))
    deliver(node, "m", first)
    assert node.rejected["replay"] == 1
    assert node.guard.senders(member=True) == 1 and node.guard.senders(member=False) == 300


def test_a_late_peer_catches_up_with_the_members_rounds_a_bounded_step_at_a_time(parts):
    workload, adapter = parts
    trainer = Trainer(adapter, workload.train.subset(range(64)), GENESIS.training, torch.device("cpu"), 0)
    node = PeerNode(GENESIS, Identity.generate(), trainer, VouchingTransport(), Standings(),
                    settings=NodeSettings(catch_up_rounds=True))
    member = Identity.generate()
    node.sampler.of["m"] = "member"
    rounds = []
    for seq, claimed in enumerate([50, 50, 50, 2**40], start=1):
        envelope = wire.Envelope(kind="update", sender=member.peer_id, seq=seq, round=claimed, t=0, net=node.net,
                                 body=bytes(encode_update(torch.zeros(node.spec.numel), node.spec, node.codec)))
        deliver(node, "m", wire.encode(envelope, member))
        node._aggregate()
        rounds.append(node.round)
    assert rounds == [5, 10, 15, 20]  # towards the highest round heard, never more than max_staleness at once


def test_two_peers_that_catch_up_with_each_other_count_one_round_per_round(parts):
    """Each peer hears the other's update from the round the other has just begun, merges, and
    ends its own round. Their counters must advance one per round, not leapfrog each other."""
    workload, adapter = parts
    trainer = Trainer(adapter, workload.train.subset(range(64)), GENESIS.training, torch.device("cpu"), 0)
    a, b = (PeerNode(GENESIS, Identity.generate(), trainer, VouchingTransport(), Standings(),
                     settings=NodeSettings(catch_up_rounds=True)) for _ in range(2))
    for receiver in (a, b):
        receiver.sampler.of["other"] = "member"
    for seq in range(1, 21):
        for receiver, sender in ((a, b), (b, a)):
            envelope = wire.Envelope(kind="update", sender=sender.identity.peer_id, seq=seq, round=sender.round,
                                     t=0, net=receiver.net, body=bytes(encode_update(
                                         torch.zeros(receiver.spec.numel), receiver.spec, receiver.codec)))
            deliver(receiver, "other", wire.encode(envelope, sender.identity))
            receiver._aggregate()
            receiver.round += 1  # what run_round does after merging
    assert (a.round, b.round) == (20, 20)  # the catch-up went one past the sender: (39, 40)


@pytest.mark.parametrize("turns", range(5))
def test_a_cancel_that_meets_an_arrival_still_ends_the_wait(node, turns):
    """A peer that leaves (churn) or a Ctrl-C cancels a node waiting for arrivals. When an arrival
    lands in the same turn of the loop, the cancel must still win: Python 3.11's `wait_for` returns
    the arrival instead and the node would run on, unseen, as a zombie."""
    async def scenario() -> bool:
        waiting = asyncio.ensure_future(node._wait_until(lambda: False))
        await asyncio.sleep(0)  # it waits for arrivals now
        node._arrival.set()
        for _ in range(turns):  # the arrival's wake-ups are somewhere in the loop's queue
            await asyncio.sleep(0)
        waiting.cancel()
        await asyncio.wait([waiting])
        return waiting.cancelled()

    assert asyncio.run(scenario())
