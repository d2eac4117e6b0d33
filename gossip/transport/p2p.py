"""libp2p transport: signed frames over a direct stream protocol, Noise-secured, on py-libp2p.

Frames go over `/loragossip/update/1.0.0`: one long-lived stream per neighbour and direction,
each frame length-prefixed (`framing`) and bounded before its body is read. gossipsub is not
used for updates: it caps messages at 1 MiB, and an adapter update is larger.

The host's key *is* the peer's identity key, so the remote peer id that Noise authenticates
is the same id that signs the wire envelopes (`sender_of`): a frame signed by any other key is
refused, so one connection speaks for one identity, and rate limits and bans apply to that id
and cannot be dodged by reconnecting. New identities cost a budget per remote IP and overall
(`NewcomerBudget`): a client that makes a fresh key per connection gets a few in, not thousands.
py-libp2p runs on trio, in its own thread (`TrioThread`);
frames reach the node on its asyncio loop, through a bounded queue of pending bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import Counter

import multiaddr
import trio
from libp2p import new_host
from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.crypto.x25519 import create_new_key_pair as create_new_x25519_key_pair
from libp2p.network.stream.exceptions import StreamError
from libp2p.peer.id import ID
from libp2p.security.noise.transport import PROTOCOL_ID as NOISE_PROTOCOL_ID
from libp2p.security.noise.transport import Transport as NoiseTransport

from gossip.identity import Identity, peer_id_from_str
from gossip.transport import Address, Handler
from gossip.transport.framing import HEADER_BYTES, FrameError, header, parse_header
from gossip.transport.newcomers import NewcomerBudget
from gossip.transport.ratelimit import RateLimiter
from gossip.transport.settings import NetSettings
from gossip.transport.trio_thread import TrioThread

log = logging.getLogger(__name__)
PROTOCOL = "/loragossip/update/1.0.0"


class PendingBytes:
    """Bytes handed to the node's loop and not yet handled: the bound that stops a flood from piling up."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.value = 0
        self._lock = threading.Lock()

    def reserve(self, size: int) -> bool:
        with self._lock:
            if self.value + size > self.limit:
                return False
            self.value += size
            return True

    def release(self, size: int) -> None:
        with self._lock:
            self.value -= size


async def _read_exactly(stream, size: int) -> bytes:
    parts, missing = [], size
    while missing:
        chunk = await stream.read(min(missing, 1 << 20))
        if not chunk:
            raise StreamError("stream ended inside a frame")
        parts.append(chunk)
        missing -= len(chunk)
    return parts[0] if len(parts) == 1 else b"".join(parts)


class Libp2pTransport:
    """`Transport` over libp2p. Addresses are peer ids in text form (`12D3KooW...`)."""

    def __init__(self, identity: Identity, listen: str = "/ip4/127.0.0.1/tcp/0",
                 settings: NetSettings | None = None) -> None:
        self.identity = identity
        self.address: Address = identity.peer_id_str
        self.listen = multiaddr.Multiaddr(listen)
        self.settings = settings or NetSettings()
        self.limiter = RateLimiter(self.settings.rate)
        self.newcomers = NewcomerBudget(self.settings.newcomers)
        self._remote_ip: dict[str, str] = {}   # peer id -> the IP its latest stream came from
        self._limiter_lock = threading.Lock()  # used from the trio thread and the node's loop
        self.pending = PendingBytes(self.settings.max_pending_bytes)
        self.dropped: Counter[str] = Counter()   # frames refused by the transport, by reason
        self.reconnects = 0                      # connections are per neighbour; nothing to reconnect
        self.addrs: list[str] = []
        self._handler: Handler | None = None
        self._trio = TrioThread(f"libp2p-{self.address[-6:]}")
        self._host = None
        self._tasks: trio.Nursery | None = None  # the trio thread's nursery, for background tasks
        self._out: dict[str, object] = {}
        self._locks: dict[str, trio.Lock] = {}
        self._loop: asyncio.AbstractEventLoop | None = None

    # lifecycle ---------------------------------------------------------------------------------
    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        await self._trio.start(self._serve)
        log.info("libp2p listening on %s", ", ".join(self.addrs))

    async def _serve(self, nursery: trio.Nursery, ready) -> None:
        self._tasks = nursery
        key_pair = create_new_key_pair(self.identity.seed)
        # Noise only: py-libp2p's default list also offers plaintext and secio, and a peer whose
        # id was not proven by a handshake would make per-peer limits and bans meaningless.
        noise = NoiseTransport(key_pair, noise_privkey=create_new_x25519_key_pair().private_key)
        host = new_host(key_pair=key_pair, sec_opt={NOISE_PROTOCOL_ID: noise})
        async with host.run(listen_addrs=[self.listen]):
            self._host = host
            host.set_stream_handler(PROTOCOL, self._on_stream)
            self.addrs = [str(a) for a in host.get_addrs()]
            if not self.addrs:  # py-libp2p logs a failed listen and carries on; a peer nobody can dial is useless
                raise OSError(f"cannot listen on {self.listen}: the address is in use or not available here; "
                              "choose another with --listen (port 0 picks a free one)")
            ready()
            await trio.sleep_forever()

    async def stop(self) -> None:
        await self._trio.stop()

    def set_handler(self, handler: Handler) -> None:
        self._handler = handler

    # peers -------------------------------------------------------------------------------------
    def learn(self, peer: str, addrs: list[str]) -> None:
        """Remember where a peer listens (from a bootstrap address, a hello or a shuffle)."""
        parsed = []
        for addr in addrs:
            try:
                parsed.append(multiaddr.Multiaddr(addr.split("/p2p/")[0]))
            except Exception:
                log.debug("ignored unparsable address %r for %s", addr, peer)
        if parsed and self._host is not None:
            self._trio.call_soon(self._replace_addrs, ID.from_base58(peer), parsed)

    def _replace_addrs(self, peer: ID, addrs: list[multiaddr.Multiaddr]) -> None:
        """The latest addresses replace the earlier ones, as in `Membership.addrs`: a peer that
        restarts on a new port is not dialled at its old one first, and the store stays small."""
        store = self._host.get_peerstore()  # type: ignore[union-attr]
        store.clear_addrs(peer)
        store.add_addrs(peer, addrs, 0)

    async def rediscover(self) -> None:
        """Nothing to do: libp2p peers are found through bootstrap addresses and shuffles."""

    async def announce(self, hello: bytes) -> None:
        """Nothing to do: a libp2p peer says hello to the peers it dials (membership does)."""

    def sender_of(self, address: Address) -> bytes | None:
        """The connection's Noise-proven peer id, which is also its signing key."""
        return peer_id_from_str(str(address))

    def source_of(self, address: Address) -> str:
        """The remote IP `address` connected from (newcomers it introduces are charged to it)."""
        return self._remote_ip.get(str(address), str(address))

    def banned(self) -> list[str]:
        with self._limiter_lock:
            return [str(p) for p in self.limiter.banned_peers(time.monotonic())]

    def strike(self, peer: Address, signer: bytes | None = None) -> None:
        """The node rejected a message from `peer`; enough of these disconnect and ban it.
        The connection is to blame whoever signed the frame: Noise proved who sent it."""
        with self._limiter_lock:
            banned = self.limiter.strike(peer, time.monotonic())
        if banned:
            self._trio.call_soon(self._disconnect_soon, str(peer))

    def _disconnect_soon(self, peer: str) -> None:
        """In the trio thread: close every connection to a banned peer."""
        log.warning("peer %s banned for %.0f s: too many bad or excess frames", peer, self.settings.rate.ban_seconds)
        self._disconnect(peer)

    def _disconnect(self, peer: str) -> None:
        if self._trio.running and self._host is not None:
            self._out.pop(peer, None)
            self._tasks.start_soon(self._host.disconnect, ID.from_base58(peer))  # type: ignore[union-attr]

    # sending -----------------------------------------------------------------------------------
    async def send(self, to: Address, data: bytes) -> bool:
        if len(data) > self.settings.max_frame:
            return False
        try:
            return await self._trio.call(self._send, str(to), data)
        except ConnectionError:
            return False

    async def _send(self, to: str, data: bytes) -> bool:
        lock = self._locks.setdefault(to, trio.Lock())
        async with lock:
            for _attempt in range(2):  # a cached stream may have died: one fresh stream, then give up
                stream = self._out.get(to)
                try:
                    if stream is None:
                        with trio.fail_after(self.settings.dial_timeout):
                            stream = await self._host.new_stream(ID.from_base58(to), [PROTOCOL])  # type: ignore[union-attr]
                        self._out[to] = stream
                    with trio.fail_after(self.settings.send_timeout):
                        await stream.write(header(len(data)))
                        await stream.write(data)
                    return True
                except Exception as exc:  # a remote peer can fail in any way; trio.Cancelled passes
                    self._out.pop(to, None)
                    log.debug("send to %s failed: %s: %s", to, type(exc).__name__, exc)
        return False

    # receiving ---------------------------------------------------------------------------------
    async def _on_stream(self, stream) -> None:
        peer = stream.muxed_conn.peer_id.to_base58()
        with self._limiter_lock:
            banned = self.limiter.banned(peer, time.monotonic())
        if banned:  # it reconnected: close the connection before it can send anything more
            self.dropped["banned"] += 1
            self._disconnect(peer)
            return
        if not self._admit_identity(peer, stream):
            with contextlib.suppress(Exception):
                await stream.reset()
            return
        try:
            while True:
                try:
                    head = await _read_exactly(stream, HEADER_BYTES)
                except StreamError:
                    return  # the sender closed the stream between frames: normal
                length = self._admit(peer, head)
                if length is None:
                    await stream.reset()
                    return
                if not self.pending.reserve(length):
                    self.dropped["queue_full"] += 1
                    await stream.reset()
                    return
                try:
                    with trio.fail_after(self.settings.read_timeout):
                        data = await _read_exactly(stream, length)
                except BaseException:
                    self.pending.release(length)
                    raise
                self._loop.call_soon_threadsafe(self._deliver, peer, data)  # type: ignore[union-attr]
        except Exception as exc:  # whatever a hostile stream does, it must not reach the host's nursery
            log.debug("stream from %s ended: %s: %s", peer, type(exc).__name__, exc)
        finally:
            with contextlib.suppress(Exception):  # already reset by the remote side
                await stream.close()

    def _admit_identity(self, peer: str, stream) -> bool:
        """A peer id seen for the first time is charged to its remote IP's newcomer budget."""
        try:
            remote = stream.get_remote_address()
        except Exception:  # py-libp2p raises different things for a connection already gone
            remote = None
        ip = remote[0] if remote else "unknown"
        with self._limiter_lock:
            admitted = self.newcomers.admit(peer, ip, time.monotonic())
        if not admitted:
            self.dropped["newcomer_budget"] += 1
            return False
        self._remote_ip[peer] = ip
        if len(self._remote_ip) > self.settings.newcomers.max_sources:
            del self._remote_ip[next(iter(self._remote_ip))]
        return True

    def _admit(self, peer: str, head: bytes) -> int | None:
        """Bound and rate-check one frame from its header: its length, or None when it is refused.
        A refusal is a strike (and maybe a ban)."""
        try:
            length: int | None = parse_header(head, self.settings.max_frame)
        except FrameError:
            length = None
        with self._limiter_lock:
            reason, newly_banned = self.limiter.admit(peer, length, self.settings.max_frame, time.monotonic(),
                                                      authenticated=True)
        if reason is None:
            return length
        self.dropped[reason] += 1
        if newly_banned:
            self._disconnect_soon(peer)
        return None

    def _deliver(self, peer: str, data: bytes) -> None:
        try:
            if self._handler is not None:
                self._handler(peer, data)
        finally:
            self.pending.release(len(data))
