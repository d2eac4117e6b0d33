"""The MQTT transport against a real (embedded amqtt) broker on 127.0.0.1."""

from __future__ import annotations

import asyncio
import logging

import pytest

from gossip.identity import Identity
from gossip.transport.broker import EmbeddedBroker, parse_broker_url
from gossip.transport.mqtt import MqttTransport
from gossip.transport.mqtt_auth import new_secret, save_secret
from tests.waiting import wait_for

NET = bytes(range(32))


@pytest.fixture
def secret_file(tmp_path):
    path = tmp_path / "broker.secret"
    save_secret(path, new_secret())
    return path


def peer(broker):
    peer_id = Identity.generate().peer_id_str
    return MqttTransport(peer_id, NET, broker.url_for(peer_id), backoff=(0.1, 0.5))


def pair(broker):
    return [peer(broker) for _ in range(2)]


def test_frames_go_to_the_inbox_and_retained_hellos_are_discovery(secret_file):
    async def scenario():
        broker = EmbeddedBroker(secret_file)
        await broker.start()
        a, b = pair(broker)
        got: dict[str, list] = {"a": [], "b": []}
        a.set_handler(lambda s, d: got["a"].append((s, d)))
        b.set_handler(lambda s, d: got["b"].append((s, d)))
        try:
            await a.start()
            await a.announce(b"hello from a")
            await b.start()  # subscribes later: the broker hands it a's retained hello
            await wait_for(lambda: (a.address, b"hello from a") in got["b"])
            payload = bytes(range(256)) * 4096
            assert await a.send(b.address, payload)
            await wait_for(lambda: (a.address, payload) in got["b"])
            assert got["a"] == []  # a never sees its own hello or b's inbox
        finally:
            await a.stop()
            await b.stop()
            await broker.stop()

    asyncio.run(asyncio.wait_for(scenario(), 60))


def test_a_broker_restart_is_survived_by_reconnecting_and_resubscribing(secret_file, caplog):
    caplog.set_level(logging.INFO, logger="gossip.transport.mqtt")

    async def scenario():
        broker = EmbeddedBroker(secret_file)
        await broker.start()
        a, b = pair(broker)
        got: list[bytes] = []
        b.set_handler(lambda s, d: got.append(d))
        await a.start()
        await b.start()
        try:
            await broker.stop()
            await wait_for(lambda: not a.connected.is_set() and not b.connected.is_set())
            assert not await a.send(b.address, b"while down")
            restarted = EmbeddedBroker(secret_file, port=broker.port)
            await restarted.start()
            await wait_for(lambda: a.connected.is_set() and b.connected.is_set())
            assert a.reconnects >= 1 and b.reconnects >= 1
            assert await a.send(b.address, b"after restart")
            await wait_for(lambda: got == [b"after restart"])  # b resubscribed to its inbox
            back = [r for r in caplog.records if r.getMessage().startswith("MQTT reconnected to ")]
            assert len(back) >= 2 and all(r.reconnects >= 1 for r in back)  # a and b each say they are back
        finally:
            await a.stop()
            await b.stop()
            await restarted.stop()

    asyncio.run(asyncio.wait_for(scenario(), 60))


@pytest.mark.parametrize("url, expected", [
    ("mqtt://127.0.0.1:1884", ("127.0.0.1", 1884, False, None)),
    ("mqtts://u:pw@example.org", ("example.org", 8883, True, "u")),
])
def test_broker_urls(url, expected):
    parsed = parse_broker_url(url)
    assert (parsed.host, parsed.port, parsed.tls, parsed.username) == expected


@pytest.mark.parametrize("bad", ["tcp://h:1", "mqtt://", "mqtt://h:notaport"])
def test_bad_broker_urls_say_what_is_expected(bad):
    with pytest.raises(ValueError, match="broker address"):
        parse_broker_url(bad)
