"""Delivery of one update (1 MB and 16 MB) from one peer to 8 neighbours over libp2p, over MQTT
(embedded amqtt broker) and over plain asyncio TCP sockets, all on 127.0.0.1 in one process and
one run, as MB/s of payload delivered (8 × size / time until the last neighbour has it).
Run: python -m bench.network"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from gossip.identity import Identity
from gossip.transport.broker import EmbeddedBroker
from gossip.transport.framing import HEADER_BYTES, header
from gossip.transport.mqtt import MqttTransport
from gossip.transport.mqtt_auth import new_secret, save_secret
from gossip.transport.p2p import Libp2pTransport

NEIGHBOURS = 8
SIZES = (1_000_000, 16_000_000)
REPEAT = 3


class Arrivals:
    def __init__(self) -> None:
        self.count = 0
        self.event = asyncio.Event()
        self.expected = 0

    def arrived(self, *_: object) -> None:
        self.count += 1
        if self.count >= self.expected:
            self.event.set()

    async def wait(self, expected: int) -> None:
        self.expected = expected
        if self.count < expected:
            await asyncio.wait_for(self.event.wait(), 300)


async def timed(send_all: Callable[[], Awaitable[object]], arrivals: Arrivals) -> float:
    """Median seconds of REPEAT deliveries to all neighbours (after one warm-up delivery)."""
    times = []
    for i in range(REPEAT + 1):
        arrivals.count, arrivals.event = 0, asyncio.Event()
        start = time.perf_counter()
        await send_all()
        await arrivals.wait(NEIGHBOURS)
        if i:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


async def tcp(size: int) -> float:
    arrivals = Arrivals()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                head = await reader.readexactly(HEADER_BYTES)
                await reader.readexactly(int.from_bytes(head, "big"))
            except asyncio.IncompleteReadError:
                return
            arrivals.arrived()

    servers = [await asyncio.start_server(serve, "127.0.0.1", 0) for _ in range(NEIGHBOURS)]
    writers = [(await asyncio.open_connection("127.0.0.1", s.sockets[0].getsockname()[1]))[1] for s in servers]
    payload = bytes(size)

    async def send_all() -> None:
        for w in writers:
            w.write(header(size))
            w.write(payload)
            await w.drain()

    seconds = await timed(send_all, arrivals)
    for w in writers:
        w.close()
    for s in servers:
        s.close()
    return seconds


async def libp2p(size: int) -> float:
    arrivals = Arrivals()
    sender = Libp2pTransport(Identity.generate())
    receivers = [Libp2pTransport(Identity.generate()) for _ in range(NEIGHBOURS)]
    for t in (sender, *receivers):
        t.set_handler(arrivals.arrived)
        await t.start()
    for r in receivers:
        sender.learn(r.address, r.addrs)
    payload = bytes(size)
    try:
        return await timed(lambda: asyncio.gather(*(sender.send(r.address, payload) for r in receivers)), arrivals)
    finally:
        for t in (sender, *receivers):
            await t.stop()


async def mqtt(size: int) -> float:
    arrivals = Arrivals()
    with tempfile.TemporaryDirectory() as folder:
        secret = Path(folder) / "broker.secret"
        save_secret(secret, new_secret())
        return await _mqtt(size, EmbeddedBroker(secret), arrivals)


async def _mqtt(size: int, broker: EmbeddedBroker, arrivals: Arrivals) -> float:
    await broker.start()
    net = bytes(32)
    ids = [Identity.generate().peer_id_str for _ in range(NEIGHBOURS + 1)]
    peers = [MqttTransport(peer_id, net, broker.url_for(peer_id)) for peer_id in ids]
    for t in peers:
        t.set_handler(arrivals.arrived)
        await t.start()
    sender, receivers = peers[0], peers[1:]
    payload = bytes(size)
    try:
        return await timed(lambda: asyncio.gather(*(sender.send(r.address, payload) for r in receivers)), arrivals)
    finally:
        for t in peers:
            await t.stop()
        await broker.stop()


async def run() -> None:
    print(f"{'size':>6} {'transport':>9} {'MB/s':>8} {'vs TCP':>7}")
    for size in SIZES:
        baseline = await tcp(size)
        for name, bench in (("tcp", None), ("libp2p", libp2p), ("mqtt", mqtt)):
            seconds = baseline if bench is None else await bench(size)
            rate = NEIGHBOURS * size / seconds / 1e6
            print(f"{size / 1e6:>4.0f}MB {name:>9} {rate:>8.1f} {baseline / seconds:>7.3f}", flush=True)


def main() -> None:
    asyncio.run(run())


if __name__ == "__main__":
    main()
