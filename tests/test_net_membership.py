"""Membership: hello/shuffle handling, bootstrap fallback, persistence; and the shard files."""

from __future__ import annotations

import asyncio

import pytest

from gossip import wire
from gossip.errors import DecodeError
from gossip.identity import Identity, peer_id_from_str
from gossip.payloads import ViewEntry, decode_view, encode_hello, encode_view
from gossip.transport.newcomers import NewcomerLimits
from peer.membership import Membership, MembershipSettings, split_bootstrap
from peer.reachability import check, tcp_endpoint


class FakeTransport:
    def __init__(self) -> None:
        self.addrs = ["/ip4/127.0.0.1/tcp/1000/p2p/me"]
        self.learned: dict[str, list[str]] = {}

        self.rediscovered = 0

    def learn(self, peer, addrs):
        self.learned[peer] = addrs

    async def rediscover(self):
        self.rediscovered += 1

    def source_of(self, address):
        return "one-ip"  # every sender behind the same address, as on loopback


def envelope(sender: Identity, kind: str, body: bytes) -> wire.Envelope:
    return wire.Envelope(kind=kind, sender=sender.peer_id, seq=1, round=0, t=0, body=bytes(body), net=bytes(32))


def make(tmp_path=None, bootstrap=(), **options):
    me = Identity.generate()
    sent: list[tuple[str, str, bytes]] = []
    membership = Membership(me.peer_id_str, FakeTransport(), list(bootstrap),
                            state_file=tmp_path / "peers.json" if tmp_path else None, **options)

    async def send(to, kind, body):
        sent.append((to, kind, body))
        return True

    membership.send = send
    return membership, sent


async def settle():
    await asyncio.sleep(0)


def test_hello_adds_the_sender_learns_its_address_and_answers_a_first_contact():
    async def scenario():
        membership, sent = make()
        other = Identity.generate()
        membership.on_control(envelope(other, "hello", encode_hello(["/ip4/127.0.0.1/tcp/2/p2p/x"], 0)), "a")
        await settle()
        assert membership.neighbours() == [other.peer_id_str]
        assert membership.transport.learned[other.peer_id_str] == ["/ip4/127.0.0.1/tcp/2/p2p/x"]
        assert [(to, kind) for to, kind, _ in sent] == [(other.peer_id_str, "hello")]
        membership.on_control(envelope(other, "hello", encode_hello([], 1)), "a")
        await settle()
        assert len(sent) == 1  # known now: no second answer, so two peers never ping-pong hellos

    asyncio.run(scenario())


def test_a_shuffle_is_answered_and_a_reply_completes_ours():
    async def scenario():
        membership, sent = make()
        peers = [Identity.generate() for _ in range(4)]
        for p in peers[:3]:
            membership.view.add(p.peer_id_str)
        membership.tick(now=0.0)
        await settle()
        (target, kind, _), = sent
        assert kind == "shuffle" and target not in membership.neighbours()
        reply = encode_view([ViewEntry(peers[3].peer_id, "/ip4/127.0.0.1/tcp/9/p2p/z", 2)])
        sender = next(p for p in peers if p.peer_id_str == target)
        membership.on_control(envelope(sender, "shuffle_reply", reply), target)
        assert peers[3].peer_id_str in membership.neighbours()
        assert target in membership.neighbours()  # it answered: kept

        stranger = Identity.generate()
        membership.on_control(envelope(stranger, "shuffle", encode_view([ViewEntry(stranger.peer_id, "", 0)])), "s")
        await settle()
        to, kind, body = sent[-1]
        assert (to, kind) == (stranger.peer_id_str, "shuffle_reply")
        assert all(e.peer != stranger.peer_id for e in decode_view(body))

    asyncio.run(scenario())


def test_an_unsolicited_reply_and_malformed_bodies_are_decode_errors():
    membership, _ = make()
    other = Identity.generate()
    with pytest.raises(DecodeError, match="nobody asked"):
        membership.on_control(envelope(other, "shuffle_reply", encode_view([])), "x")
    with pytest.raises(DecodeError):
        membership.on_control(envelope(other, "hello", b"\x93garbage"), "x")


def test_view_entries_that_are_not_ed25519_ids_are_skipped():
    async def scenario():
        membership, _ = make()
        bogus = ViewEntry(b"\x00" * 38, "", 0)
        good = Identity.generate()
        membership.on_control(envelope(Identity.generate(), "shuffle",
                                       encode_view([bogus, ViewEntry(good.peer_id, "", 0)])), "x")
        await settle()
        assert membership.neighbours() == [good.peer_id_str]

    asyncio.run(scenario())


def test_alone_it_goes_back_to_the_bootstrap_list_and_known_peers_survive_a_restart(tmp_path):
    async def scenario():
        boot = Identity.generate()
        address = f"/ip4/127.0.0.1/tcp/4001/p2p/{boot.peer_id_str}"
        membership, sent = make(tmp_path, [address])
        membership.tick(now=0.0)
        await settle()
        assert membership.rejoins == 1 and [(t, k) for t, k, _ in sent] == [(boot.peer_id_str, "hello")]
        assert membership.transport.rediscovered == 1
        assert membership.transport.learned[boot.peer_id_str] == [address]
        friend = Identity.generate()
        membership.on_control(envelope(friend, "hello", encode_hello(["/ip4/127.0.0.1/tcp/5/p2p/f"], 0)), "f")
        membership.save()
        again, _ = make(tmp_path)
        assert friend.peer_id_str in again.addrs

    asyncio.run(scenario())


@pytest.mark.parametrize("bad", ["/ip4/127.0.0.1/tcp/4001", "/ip4/127.0.0.1/tcp/4001/p2p/notanid"])
def test_bootstrap_addresses_must_name_a_peer(bad):
    with pytest.raises(ValueError):
        split_bootstrap(bad)


def test_reachability_finds_a_closed_port_and_a_loopback_only_peer():
    assert tcp_endpoint("/ip4/10.0.0.1/tcp/4001/p2p/x") == ("10.0.0.1", 4001)
    assert tcp_endpoint("mqtt://u:p@broker:1883") == ("broker", 1883)
    problems = asyncio.run(check(["/ip4/127.0.0.1/tcp/1/p2p/x"], ["/ip4/10.1.2.3/tcp/4001/p2p/y"]))
    assert any("cannot connect" in p for p in problems) and any("loopback only" in p for p in problems)


def test_known_addresses_are_bounded():
    from peer.membership import MembershipSettings

    membership = Membership(Identity.generate().peer_id_str, FakeTransport(), [],
                            settings=MembershipSettings(max_known=10))
    for _ in range(50):
        membership.learn(Identity.generate().peer_id_str, ["/ip4/127.0.0.1/tcp/1/p2p/x"])
    assert len(membership.addrs) == 10


def test_newcomers_beyond_the_budget_of_their_source_are_refused_and_counted():
    async def scenario():
        limits = NewcomerLimits(per_source_burst=5, per_source_per_minute=0.0, overall_burst=100)
        membership, _ = make(settings=MembershipSettings(newcomers=limits))
        hello = encode_hello([], 0)
        refused = 0
        for _ in range(40):
            try:
                membership.on_control(envelope(Identity.generate(), "hello", hello), "addr")
            except DecodeError as exc:
                assert exc.reason == "newcomer_budget"
                refused += 1
        await settle()
        assert len(membership.addrs) == 5 and refused == 35
        assert membership.refused == {"newcomer_budget": 35}
        known = next(iter(membership.addrs))  # a known peer is never charged again
        membership.on_control(wire.Envelope(kind="hello", sender=peer_id_from_str(known), seq=2, round=0, t=0,
                                            body=bytes(hello), net=bytes(32)), "addr")
        # a shuffle introducing strangers from the same exhausted source adds none of them
        entries = [ViewEntry(Identity.generate().peer_id, "", 0) for _ in range(6)]
        membership.on_control(envelope(Identity.generate(), "shuffle", encode_view(entries)), "addr")
        assert len(membership.addrs) == 5

    asyncio.run(scenario())


def test_a_newcomer_counts_only_after_its_probation_and_bootstrap_peers_at_once():
    boot = Identity.generate()
    membership, _ = make(bootstrap=[f"/ip4/127.0.0.1/tcp/9/p2p/{boot.peer_id_str}"], probation_rounds=3)

    async def scenario():
        membership.rejoin()
        newcomer = Identity.generate()
        membership.on_control(envelope(newcomer, "hello", encode_hello([], 0)), newcomer.peer_id_str)
        await settle()
        return newcomer

    newcomer = asyncio.run(scenario())
    assert membership.standing(boot.peer_id_str) == "member"
    assert membership.standing(Identity.generate().peer_id_str) == "stranger"
    standings = []
    for _ in range(4):
        standings.append(membership.standing(newcomer.peer_id_str))
        membership.rounds_run += 1
    assert standings == ["probation"] * 3 + ["member"]
