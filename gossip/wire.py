"""The signed wire format: one msgpack map per message, Ed25519-signed, validated on the way in.

Fields (the design's contract): `v` protocol version, `net` 32-byte network id, `kind`,
`from` sender peer id, `seq` per-sender counter, `round`, `t` milliseconds, `body` bytes,
`sig` the Ed25519 signature.

The signature covers the canonical form `msgpack([DOMAIN, v, net, kind, from, seq, round, t,
sha256(body)])`. Hashing the body first means signing or verifying a 16 MB update hashes it
once with SHA-256 instead of twice with Ed25519's internal SHA-512, and the canonical form
is tiny; it is as binding as signing the body itself.

`decode` trusts nothing: bounded sizes before parsing, exact schema and types, known kind,
network id, signature (from the key inside the sender id). The receiver then checks the
replay window (`gossip.replay`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, cast

import msgpack

from gossip.errors import DecodeError
from gossip.identity import PEER_ID_LEN, SIGNATURE_LEN, Identity, verify
from gossip.packing import Buffer, pack
from gossip.unpacking import Bounds, unpack

PROTOCOL_VERSION = 1
KINDS = frozenset({"update", "history", "hello", "shuffle", "shuffle_reply"})
FIELDS = frozenset({"v", "net", "kind", "from", "seq", "round", "t", "body", "sig"})
_SIG_DOMAIN = b"loragossip/sig/v1"
_U63 = 2**63 - 1


@dataclass(frozen=True)
class Limits:
    """Upper bounds applied before and while parsing; everything larger is rejected unread."""

    max_message_bytes: int = 96 * 1024 * 1024
    max_body_bytes: int = 96 * 1024 * 1024
    max_tensors: int = 4096
    max_records: int = 256
    max_list_items: int = 4096
    max_string_bytes: int = 1024
    max_elements: int = 1 << 25  # 32M values: a 16M-value update fits with room


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True)
class Envelope:
    kind: str
    sender: bytes
    seq: int
    round: int
    t: int
    body: Buffer
    net: bytes
    v: int = PROTOCOL_VERSION
    sig: bytes = field(default=b"", compare=False)


def _signed_bytes(v: int, net: bytes, kind: str, sender: bytes, seq: int, rnd: int, t: int, body: Any) -> bytes:
    digest = hashlib.sha256(body).digest()
    return msgpack.packb([_SIG_DOMAIN, v, net, kind, sender, seq, rnd, t, digest], use_bin_type=True)


def encode(envelope: Envelope, key: Identity) -> bytes:
    """Sign and serialise; `envelope.sender` must be the key's peer id."""
    if envelope.sender != key.peer_id:
        raise ValueError("envelope sender is not the signing identity's peer id")
    if envelope.kind not in KINDS:
        raise ValueError(f"unknown kind {envelope.kind!r}")
    e = envelope
    sig = key.sign(_signed_bytes(e.v, e.net, e.kind, e.sender, e.seq, e.round, e.t, e.body))
    message = pack({"v": e.v, "net": e.net, "kind": e.kind, "from": e.sender, "seq": e.seq,
                    "round": e.round, "t": e.t, "body": e.body, "sig": sig})
    return cast(bytes, message)  # no Fill among the fields, so pack joined them into one bytes


def unpack_bounded(data: Any, limits: Limits, what: str) -> Any:
    """The msgpack object in `data`, every container and string bounded, large binaries as views
    into `data` (`gossip.unpacking`); any failure is a DecodeError."""
    if isinstance(data, bytes | bytearray | memoryview) and len(data) > limits.max_message_bytes:
        raise DecodeError("too_large", f"{what} has {len(data)} bytes, limit {limits.max_message_bytes}")
    return unpack(data, Bounds(max_bin=limits.max_body_bytes, max_str=limits.max_string_bytes,
                               max_array=limits.max_list_items, max_map=32), what)


def _int_field(msg: dict, name: str, low: int = 0, high: int = _U63) -> int:
    value = msg[name]
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise DecodeError("schema", f"{name} must be an integer in [{low}, {high}]")
    return value


def _bytes_field(msg: dict, name: str, length: int | None = None) -> Buffer:
    value = msg[name]
    if not isinstance(value, bytes | memoryview):
        raise DecodeError("schema", f"{name} must be bytes")
    if length is not None and len(value) != length:
        raise DecodeError("schema", f"{name} must have {length} bytes, has {len(value)}")
    return value


def decode(data: bytes, *, net: bytes, limits: Limits = DEFAULT_LIMITS) -> Envelope:
    """Validate, parse and verify one message; raises DecodeError.

    The replay window is the caller's (`ReplayGuard.check`): which tier a sender's window lives
    in depends on whether the receiver has admitted that sender, which only the receiver knows.
    """
    msg = unpack_bounded(data, limits, "message")
    if not isinstance(msg, dict):
        raise DecodeError("schema", "a message must be a map")
    if set(msg) != FIELDS:
        raise DecodeError("schema", f"fields {sorted(map(str, msg))}, expected {sorted(FIELDS)}")
    v = _int_field(msg, "v")
    if v != PROTOCOL_VERSION:
        raise DecodeError("version", f"protocol {v}, this peer speaks {PROTOCOL_VERSION}")
    got_net = _bytes_field(msg, "net", 32)
    if got_net != net:
        raise DecodeError("wrong_network", "network id differs from this peer's genesis")
    kind = msg["kind"]
    if not isinstance(kind, str) or kind not in KINDS:
        raise DecodeError("kind", f"unknown kind {kind!r}")
    sender = _bytes_field(msg, "from", PEER_ID_LEN)
    seq, rnd, t = _int_field(msg, "seq"), _int_field(msg, "round"), _int_field(msg, "t")
    body = _bytes_field(msg, "body")
    sig = _bytes_field(msg, "sig", SIGNATURE_LEN)
    if not verify(sender, _signed_bytes(v, got_net, kind, sender, seq, rnd, t, body), sig):
        raise DecodeError("signature", "signature does not verify against the sender id")
    return Envelope(kind=kind, sender=sender, seq=seq, round=rnd, t=t, body=body, net=got_net, v=v, sig=sig)
