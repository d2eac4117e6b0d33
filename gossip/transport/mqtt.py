"""MQTT transport on aiomqtt: per-peer inbox topics under the network id, retained hellos.

Topics (NET = the network id in hex, ids in libp2p text form):
  lg/NET/inbox/TO/FROM   a frame for TO, QoS 1
  lg/NET/hello/PEER      PEER's signed hello, retained; an empty retained message clears it
A new peer subscribes to `lg/NET/hello/+` and the broker hands it every live peer's hello:
that is discovery. On a broker with our topic rules (`mqtt_auth`: the embedded broker, or
mosquitto with the pattern ACL there) the FROM is the broker-authenticated user; elsewhere it
is only a claim. Either way the node refuses a frame whose signer is not the FROM
(`sender_of`), rate limits keyed on the FROM never strike, and strikes and bans fall only on a
verified signer (`strike`): a publisher cannot get an honest peer banned by writing its id into
a topic. aiomqtt does not reconnect by itself: `run` reconnects with exponential backoff and
resubscribes, and the hello is published again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections import Counter

import aiomqtt
from aiomqtt.exceptions import MqttConnectError

from gossip.identity import IdentityError, peer_id_from_str, peer_id_to_str
from gossip.transport import Address, Handler
from gossip.transport.broker import BrokerUrl
from gossip.transport.ratelimit import RateLimiter
from gossip.transport.settings import NetSettings

log = logging.getLogger(__name__)
REFUSED_CODES = {4, 5, 134, 135}  # bad user name or password, not authorised (MQTT 3.1.1 and 5)


class MqttTransport:
    def __init__(self, peer_id: str, network_id: bytes, broker: BrokerUrl, settings: NetSettings | None = None,
                 *, backoff: tuple[float, float] = (0.2, 10.0)) -> None:
        self.address: Address = peer_id
        self.broker = broker
        self.settings = settings or NetSettings()
        self.prefix = f"lg/{network_id.hex()}"
        self.backoff = backoff
        self.limiter = RateLimiter(self.settings.rate)
        self.dropped: Counter[str] = Counter()
        self.reconnects = 0
        self.hello: bytes | None = None          # set by the node: re-published on every (re)connect
        self.connected = asyncio.Event()
        self._handler: Handler | None = None
        self._client: aiomqtt.Client | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def addrs(self) -> list[str]:
        return [str(self.broker)]

    def set_handler(self, handler: Handler) -> None:
        self._handler = handler

    def _make_client(self) -> aiomqtt.Client:
        b = self.broker
        return aiomqtt.Client(
            b.host, b.port, username=b.username, password=b.password, identifier=f"lg-{self.address}",
            will=aiomqtt.Will(f"{self.prefix}/hello/{self.address}", b"", qos=1, retain=True),
            tls_context=ssl.create_default_context(cafile=b.ca_file) if b.tls else None,
            max_queued_incoming_messages=1024, timeout=self.settings.dial_timeout)

    async def start(self, timeout: float | None = None) -> None:
        """Start the connection loop; wait until the first connection is up.

        ConnectionRefusedError when the broker refuses this peer's credentials: retrying would
        not help, and the user needs to be told which credentials to give."""
        self._task = asyncio.create_task(self._run(), name=f"mqtt-{self.address[-6:]}")
        connected = asyncio.ensure_future(self.connected.wait())
        try:
            await asyncio.wait_for(asyncio.wait([connected, self._task], return_when=asyncio.FIRST_COMPLETED),
                                   timeout or self.settings.dial_timeout)
        finally:
            connected.cancel()
        if self._task.done():
            ended, self._task = self._task, None
            ended.result()  # raises what ended the loop
        if not self.connected.is_set():
            raise TimeoutError(f"no connection to the MQTT broker {self.broker} within the dial timeout")

    async def stop(self) -> None:
        if self._client is not None:  # leave politely: clear the retained hello
            with contextlib.suppress(aiomqtt.MqttError):
                await self._client.publish(f"{self.prefix}/hello/{self.address}", b"", qos=1, retain=True)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        delay = self.backoff[0]
        failed_attempts = 0  # retries since the last established connection
        while True:
            try:
                async with self._make_client() as client:
                    await client.subscribe(f"{self.prefix}/inbox/{self.address}/+", qos=1)
                    await client.subscribe(f"{self.prefix}/hello/+", qos=1)
                    if self.hello is not None:
                        await client.publish(f"{self.prefix}/hello/{self.address}", self.hello, qos=1, retain=True)
                    self._client = client
                    self.connected.set()
                    if failed_attempts:  # the warnings said it was lost; say it is back
                        log.info("MQTT reconnected to %s after %d attempt(s)", self.broker, failed_attempts,
                                 extra={"reconnects": self.reconnects})
                    failed_attempts = 0
                    delay = self.backoff[0]
                    async for message in client.messages:
                        self._receive(str(message.topic), message.payload)
            except MqttConnectError as exc:
                refused = getattr(exc.rc, "value", exc.rc) in REFUSED_CODES
                if refused and self.reconnects == 0:  # never connected: these credentials will not do
                    who = f"user {self.broker.username}" if self.broker.username else "an anonymous client"
                    raise ConnectionRefusedError(
                        f"the MQTT broker {self.broker} refused {who} ({exc}); give this peer credentials "
                        "issued by the broker's operator: mqtt://USER:PASSWORD@host:port, --mqtt-credentials "
                        "FILE, or mqtt-credentials.json in its state directory") from exc
                log.warning("MQTT broker %s refused the connection (%s); retrying in %.1f s", self.broker, exc, delay)
            except aiomqtt.MqttError as exc:
                log.warning("MQTT connection to %s lost (%s); reconnecting in %.1f s", self.broker, exc, delay)
            finally:
                self._client = None
                self.connected.clear()
            await asyncio.sleep(delay)
            self.reconnects += 1
            failed_attempts += 1
            delay = min(self.backoff[1], delay * 2)

    def _receive(self, topic: str, payload: object) -> None:
        parts = topic.split("/")
        if not isinstance(payload, bytes | bytearray) or not payload:
            return  # a cleared hello
        sender = parts[-1] if len(parts) in (4, 5) else ""
        if not sender or sender == self.address:
            return
        if self.sender_of(sender) is None:
            self.dropped["bad_topic"] += 1
            return
        reason, _ = self.limiter.admit(sender, len(payload), self.settings.max_frame, time.monotonic(),
                                       authenticated=False)
        if reason is not None:
            self.dropped[reason] += 1
            return
        if self._handler is not None:
            self._handler(sender, bytes(payload))

    async def announce(self, hello: bytes) -> None:
        """The broker's retained hello is discovery: publish it now and after every reconnect."""
        self.hello = hello
        if self._client is not None:
            with contextlib.suppress(aiomqtt.MqttError):
                await self._client.publish(f"{self.prefix}/hello/{self.address}", hello, qos=1, retain=True)

    async def send(self, to: Address, data: bytes) -> bool:
        client = self._client
        if client is None or len(data) > self.settings.max_frame:
            return False
        try:
            await client.publish(f"{self.prefix}/inbox/{to}/{self.address}", data, qos=1)
        except aiomqtt.MqttError:
            return False
        return True

    async def rediscover(self) -> None:
        """Subscribe to the hellos again: the broker hands over every retained one anew."""
        client = self._client
        if client is not None:
            with contextlib.suppress(aiomqtt.MqttError):
                await client.unsubscribe(f"{self.prefix}/hello/+")
                await client.subscribe(f"{self.prefix}/hello/+", qos=1)

    def sender_of(self, address: Address) -> bytes | None:
        """The FROM of the topic as a peer id (None when it is not one)."""
        try:
            return peer_id_from_str(str(address))
        except IdentityError:
            return None

    def source_of(self, address: Address) -> Address:
        """Each user of the broker is its own source: the broker authenticated it."""
        return address

    def strike(self, peer: Address, signer: bytes | None = None) -> None:
        """Strike the verified signer of a refused frame; a frame nobody verifiably signed strikes
        no one, whatever its topic claims."""
        if signer is None:
            self.dropped["unverified"] += 1
            return
        self.limiter.strike(peer_id_to_str(signer), time.monotonic())

    def banned(self) -> list[str]:
        return [str(p) for p in self.limiter.banned_peers(time.monotonic())]

    def learn(self, peer: str, addrs: list[str]) -> None:
        """Nothing to remember: every peer is reached through the broker."""
