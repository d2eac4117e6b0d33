"""The embedded broker's credentials, topic rules and TLS, tried by real clients on 127.0.0.1."""

from __future__ import annotations

import asyncio
import ssl

import aiomqtt
import pytest

from gossip.identity import Identity
from gossip.transport.broker import EmbeddedBroker
from gossip.transport.mqtt import MqttTransport
from gossip.transport.mqtt_auth import (
    Credentials,
    CredentialsError,
    issue,
    load_secret,
    may_connect,
    may_publish,
    may_receive,
    may_subscribe,
    new_secret,
    save_secret,
)
from gossip.transport.tls import make_self_signed
from tests.waiting import wait_for

NET = "ab" * 32
ALICE = Identity.from_seed(bytes(32)).peer_id_str
BOB = Identity.from_seed(bytes([1]) * 32).peer_id_str


@pytest.fixture
def secret_file(tmp_path):
    path = tmp_path / "broker.secret"
    save_secret(path, new_secret())
    return path


def test_topic_rules():
    assert may_subscribe(ALICE, f"lg/{NET}/inbox/{ALICE}/+")
    assert may_subscribe(ALICE, f"lg/{NET}/hello/+")
    for topic in (f"lg/{NET}/inbox/{BOB}/+", f"lg/{NET}/inbox/+/+", "#", f"lg/{NET}/#", "lg/+/hello/+",
                  f"lg/{NET}/inbox/{ALICE}/#", f"lg/{NET}/hello/#", "$SYS/#"):
        assert not may_subscribe(ALICE, topic), topic
    assert may_publish(ALICE, f"lg/{NET}/inbox/{BOB}/{ALICE}")
    assert may_publish(ALICE, f"lg/{NET}/hello/{ALICE}")
    for topic in (f"lg/{NET}/inbox/{ALICE}/{BOB}", f"lg/{NET}/hello/{BOB}", f"lg/{NET}/inbox/+/{ALICE}",
                  f"lg/{NET}/inbox/{BOB}/{ALICE}/x", f"other/{NET}/hello/{ALICE}"):
        assert not may_publish(ALICE, topic), topic
    assert may_receive(ALICE, f"lg/{NET}/inbox/{ALICE}/{BOB}") and may_receive(ALICE, f"lg/{NET}/hello/{BOB}")
    assert not may_receive(ALICE, f"lg/{NET}/inbox/{BOB}/{ALICE}")


def test_connect_rules():
    secret = new_secret()
    password = issue(secret, ALICE).password
    own_will = f"lg/{NET}/hello/{ALICE}"
    assert may_connect(secret, f"lg-{ALICE}", ALICE, password, own_will)
    assert may_connect(secret, f"lg-{ALICE}", ALICE, password, None)
    assert not may_connect(secret, f"lg-{ALICE}", ALICE, password, f"lg/{NET}/hello/{BOB}")  # clearing bob's hello
    assert not may_connect(secret, f"lg-{ALICE}", ALICE, issue(secret, BOB).password, None)
    assert not may_connect(secret, f"lg-{BOB}", ALICE, password, None)
    assert not may_connect(secret, f"lg-{ALICE}", ALICE, None, None)
    assert not may_connect(new_secret(), f"lg-{ALICE}", ALICE, password, None)
    assert not may_connect(secret, "lg-x", "x", issue(secret, "x").password, None)  # not a peer id


def test_credential_files_round_trip_and_bad_ones_say_so(tmp_path):
    path = tmp_path / "c.json"
    Credentials(ALICE, "pw").save(path)
    assert Credentials.load(path) == Credentials(ALICE, "pw")
    assert path.stat().st_mode & 0o777 == 0o600
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(CredentialsError, match="username and password"):
        Credentials.load(tmp_path / "bad.json")
    with pytest.raises(CredentialsError, match="cannot read"):
        load_secret(tmp_path / "missing")
    (tmp_path / "short").write_text("abcd")
    with pytest.raises(CredentialsError, match="too short"):
        load_secret(tmp_path / "short")


def _client(broker, username=None, password=None, identifier=None, tls=None):
    return aiomqtt.Client(broker.host, broker.port, username=username, password=password,
                          identifier=identifier or (f"lg-{username}" if username else None), tls_context=tls,
                          timeout=10)


def test_anonymous_and_wrong_password_clients_are_refused(secret_file):
    async def scenario():
        broker = EmbeddedBroker(secret_file)
        await broker.start()
        try:
            for kwargs in ({}, {"username": ALICE, "password": "not the password"},
                           {"username": ALICE, "password": broker.url_for(ALICE).password, "identifier": "other"}):
                with pytest.raises(aiomqtt.MqttError):
                    async with _client(broker, **kwargs) as client:
                        await client.subscribe("#")
        finally:
            await broker.stop()

    asyncio.run(asyncio.wait_for(scenario(), 60))


def test_a_client_with_credentials_reads_only_its_own_inbox_and_writes_only_as_itself(secret_file):
    async def scenario():
        broker = EmbeddedBroker(secret_file)
        await broker.start()
        victim = MqttTransport(BOB, bytes.fromhex(NET), broker.url_for(BOB), backoff=(0.1, 0.5))
        frames: list[tuple[str, bytes]] = []
        victim.set_handler(lambda sender, data: frames.append((sender, data)))
        third = Identity.generate().peer_id_str
        try:
            await victim.start()
            await victim.announce(b"bob's hello")
            alice = broker.url_for(ALICE)
            async with _client(broker, ALICE, alice.password) as client:
                result = await client.subscribe(f"lg/{NET}/inbox/{BOB}/+")
                assert result[0] == 128  # the broker refused the subscription
                assert (await client.subscribe(f"lg/{NET}/hello/+"))[0] != 128
                await client.publish(f"lg/{NET}/inbox/{BOB}/{third}", b"framed as a third peer", qos=1)
                await client.publish(f"lg/{NET}/hello/{BOB}", b"", qos=1, retain=True)  # clear bob's hello
                await client.publish(f"lg/{NET}/inbox/{BOB}/{ALICE}", b"as itself", qos=1)
                await wait_for(lambda: (ALICE, b"as itself") in frames)
                assert frames == [(ALICE, b"as itself")]  # the framed frame never reached bob
            async with _client(broker, third, broker.url_for(third).password) as client:
                await client.subscribe(f"lg/{NET}/hello/+")
                message = await asyncio.wait_for(anext(aiter(client.messages)), 10)
                assert message.payload == b"bob's hello"  # still retained: alice could not clear it
        finally:
            await victim.stop()
            await broker.stop()

    asyncio.run(asyncio.wait_for(scenario(), 60))


def test_tls_with_a_self_signed_certificate(secret_file, tmp_path):
    async def scenario():
        cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
        make_self_signed(cert, key, "127.0.0.1")
        broker = EmbeddedBroker(secret_file, tls=(cert, key))
        await broker.start()
        a, b = (MqttTransport(p, bytes.fromhex(NET), broker.url_for(p), backoff=(0.1, 0.5)) for p in (ALICE, BOB))
        got: list[bytes] = []
        b.set_handler(lambda sender, data: got.append(data))
        try:
            assert str(broker.url).startswith("mqtts://")
            await a.start()
            await b.start()
            assert await a.send(BOB, b"over tls")
            await wait_for(lambda: got == [b"over tls"])
            probe = Identity.generate().peer_id_str
            with pytest.raises(aiomqtt.MqttError):  # good credentials, but it does not trust the certificate
                async with _client(broker, probe, broker.url_for(probe).password, tls=ssl.create_default_context()):
                    pass
        finally:
            await a.stop()
            await b.stop()
            await broker.stop()

    asyncio.run(asyncio.wait_for(scenario(), 60))


def test_a_peer_without_credentials_is_told_where_they_go(secret_file):
    async def scenario():
        broker = EmbeddedBroker(secret_file)
        await broker.start()
        try:
            for url, who in ((broker.url, "an anonymous client"),
                             (broker.url.with_credentials(ALICE, "wrong"), f"user {ALICE}")):
                transport = MqttTransport(ALICE, bytes.fromhex(NET), url, backoff=(0.1, 0.5))
                with pytest.raises(ConnectionRefusedError, match=f"refused {who}.*--mqtt-credentials"):
                    await transport.start()
                await transport.stop()
        finally:
            await broker.stop()

    asyncio.run(asyncio.wait_for(scenario(), 60))
