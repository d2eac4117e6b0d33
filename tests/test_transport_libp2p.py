"""The libp2p transport with real hosts on 127.0.0.1: delivery, bounds, rate limits, bans, clean stop."""

from __future__ import annotations

import asyncio
import threading

from libp2p.peer.id import ID

from gossip.identity import Identity
from gossip.transport.p2p import Libp2pTransport
from gossip.transport.ratelimit import RateLimits
from gossip.transport.settings import NetSettings
from tests.waiting import wait_for


def run(scenario):
    before = {t.name for t in threading.enumerate()}
    asyncio.run(asyncio.wait_for(scenario(), 60))
    leaked = [t.name for t in threading.enumerate() if t.name.startswith("libp2p") and t.name not in before]
    assert not leaked, f"trio threads left running: {leaked}"


def test_frames_cross_both_ways_between_two_hosts_and_the_sender_is_the_authenticated_id():
    async def scenario():
        a, b = Libp2pTransport(Identity.generate()), Libp2pTransport(Identity.generate())
        got: dict[str, list] = {"a": [], "b": []}
        a.set_handler(lambda sender, data: got["a"].append((sender, data)))
        b.set_handler(lambda sender, data: got["b"].append((sender, data)))
        await a.start()
        await b.start()
        try:
            a.learn(b.address, b.addrs)
            payload = bytes(range(256)) * 8192   # 2 MiB: more than one read
            assert await a.send(b.address, payload)
            assert await a.send(b.address, b"second")
            await wait_for(lambda: len(got["b"]) == 2)
            assert got["b"] == [(a.address, payload), (a.address, b"second")]
            b.learn(a.address, a.addrs)
            assert await b.send(a.address, b"back")
            await wait_for(lambda: got["a"] == [(b.address, b"back")])
        finally:
            await a.stop()
            await b.stop()

    run(scenario)


def test_sending_to_an_unknown_or_departed_peer_returns_false():
    async def scenario():
        a, b = Libp2pTransport(Identity.generate()), Libp2pTransport(Identity.generate())
        await a.start()
        await b.start()
        a.learn(b.address, b.addrs)
        await b.stop()
        try:
            assert not await a.send(Identity.generate().peer_id_str, b"x")
            assert not await a.send(b.address, b"x")
        finally:
            await a.stop()

    run(scenario)


def test_an_oversized_frame_is_refused_unread_and_a_flooder_is_banned_while_others_get_through():
    async def scenario():
        limits = RateLimits(frames_per_second=20, frame_burst=20, max_strikes=5, ban_seconds=60)
        victim = Libp2pTransport(Identity.generate(), settings=NetSettings(max_frame=1 << 16, rate=limits))
        flooder, honest = Libp2pTransport(Identity.generate()), Libp2pTransport(Identity.generate())
        received: list[str] = []
        victim.set_handler(lambda sender, data: received.append(sender))
        for t in (victim, flooder, honest):
            await t.start()
        try:
            for t in (flooder, honest):
                t.learn(victim.address, victim.addrs)
            await flooder.send(victim.address, b"x" * (1 << 17))  # over the victim's 64 KiB bound
            await wait_for(lambda: victim.dropped["oversized"] >= 1)  # the sender may retry once on a fresh stream
            assert received == []
            for _ in range(300):
                await flooder.send(victim.address, b"garbage" * 10)
            await wait_for(lambda: flooder.address in victim.banned())
            assert victim.dropped["rate_limited"] + victim.dropped["oversized"] > 0
            assert await honest.send(victim.address, b"hello")
            await wait_for(lambda: honest.address in received)
            count = received.count(flooder.address)
            for _ in range(20):
                await flooder.send(victim.address, b"more")
            await asyncio.sleep(0.5)
            assert received.count(flooder.address) == count  # nothing more from a banned peer
        finally:
            for t in (victim, flooder, honest):
                await t.stop()

    run(scenario)


def test_a_busy_listen_port_is_an_oserror_that_says_what_to_do():
    import socket

    import pytest

    async def scenario():
        with socket.socket() as busy:
            busy.bind(("127.0.0.1", 0))
            busy.listen()
            port = busy.getsockname()[1]
            transport = Libp2pTransport(Identity.generate(), f"/ip4/127.0.0.1/tcp/{port}")
            with pytest.raises(OSError, match="--listen"):
                await transport.start()
            await transport.stop()

    run(scenario)


def test_a_peer_offering_only_plaintext_cannot_connect():
    """Only Noise is offered: an unauthenticated channel would make per-peer bans meaningless."""
    import multiaddr
    import trio
    from libp2p import new_host
    from libp2p.crypto.ed25519 import create_new_key_pair
    from libp2p.peer.peerinfo import info_from_p2p_addr
    from libp2p.security.insecure.transport import PLAINTEXT_PROTOCOL_ID, InsecureTransport

    def dial_in_plaintext(address: str) -> bool:
        async def main() -> bool:
            key_pair = create_new_key_pair()
            host = new_host(key_pair=key_pair, sec_opt={PLAINTEXT_PROTOCOL_ID: InsecureTransport(key_pair)})
            async with host.run(listen_addrs=[multiaddr.Multiaddr("/ip4/127.0.0.1/tcp/0")]):
                info = info_from_p2p_addr(multiaddr.Multiaddr(address))
                try:
                    with trio.fail_after(10):
                        await host.connect(info)
                        stream = await host.new_stream(info.peer_id, ["/loragossip/update/1.0.0"])
                        await stream.write(b"\x00\x00\x00\x01x")
                except Exception:  # any failure to get through is the expected outcome
                    return False
                return True

        return trio.run(main)

    async def scenario():
        victim = Libp2pTransport(Identity.generate())
        received = []
        victim.set_handler(lambda sender, data: received.append(sender))
        await victim.start()
        try:
            assert not await asyncio.to_thread(dial_in_plaintext, victim.addrs[0])
            await asyncio.sleep(0.3)
            assert received == []
        finally:
            await victim.stop()

    run(scenario)


def test_a_peer_that_restarts_on_another_port_is_reached_at_its_new_address_only():
    async def scenario():
        identity = Identity.generate()
        a, old = Libp2pTransport(Identity.generate()), Libp2pTransport(identity)
        await a.start()
        await old.start()
        a.learn(old.address, old.addrs)
        assert await a.send(old.address, b"before")
        await old.stop()
        new = Libp2pTransport(identity)
        got = []
        new.set_handler(lambda sender, data: got.append(data))
        await new.start()
        try:
            assert new.addrs != old.addrs
            a.learn(new.address, new.addrs)
            store, peer = a._host.get_peerstore(), ID.from_base58(new.address)
            listening = [addr.split("/p2p/")[0] for addr in new.addrs]
            await wait_for(lambda: [str(m) for m in store.addrs(peer)] == listening)  # the old port is gone
            for _round in range(20):  # the node retries each round; the dead connection may take a moment to go
                if await a.send(new.address, b"after"):
                    break
                await asyncio.sleep(0.25)
            await wait_for(lambda: got == [b"after"])
        finally:
            await a.stop()
            await new.stop()

    run(scenario)
