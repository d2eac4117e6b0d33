"""Bodies of the message kinds, and their validating decoders.

- `update`:  `{codec, mode, base, tensors}`: the sender's trainable tensors (`mode="model"`, a
  keyframe, in the codec's dense `keyframe` codec) or a difference against the message numbered
  `base` that it sent this receiver (`"delta"`, sparse codecs only).
- `history`: `{records: [{subject, distance, codec, tensors}]}`: SybilWall history records.
- `hello`:   `{addrs, round}`: announces a peer's listen addresses.
- `shuffle` / `shuffle_reply`: `{view: [{id, addr, age}]}`: Cyclon peer-sampling exchanges.

Every tensor list must be exactly the adapter spec, in order, so a message can never
add, drop, rename, resize or reshape a trainable tensor.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch

from gossip.codecs import Codec
from gossip.errors import DecodeError
from gossip.identity import PEER_ID_LEN
from gossip.packing import Buffer, Packed, pack
from gossip.spec import AdapterSpec
from gossip.wire import DEFAULT_LIMITS, Limits, unpack_bounded
from robust.history import HistoryRecord  # SybilWall's record: the history body carries it

MODES = ("model", "delta")
MAX_DEGREE = 1 << 20


@dataclass(frozen=True)
class Update:
    codec: str
    mode: str
    base: int
    vector: torch.Tensor  # flat float32, spec order
    degree: int = 0       # the sender's number of neighbours, for Metropolis-Hastings weights


@dataclass(frozen=True)
class ViewEntry:
    peer: bytes
    addr: str
    age: int


def _encode_tensors(vector: torch.Tensor, spec: AdapterSpec, codec: Codec) -> list[dict]:
    return [codec.encode(name, tensor) for name, tensor in spec.split(vector).items()]


def _decode_tensors(records: Any, codec: Codec, spec: AdapterSpec, limits: Limits) -> torch.Tensor:
    if not isinstance(records, list):
        raise DecodeError("schema", "tensors must be a list")
    if len(records) != len(spec.tensors) or len(records) > limits.max_tensors:
        raise DecodeError("schema", f"{len(records)} tensors, the adapter spec has {len(spec.tensors)}")
    return torch.cat([codec.decode(r, expected).reshape(-1) for r, expected in zip(records, spec.tensors,
                                                                                    strict=True)])


def _codec_for(name: Any, expected: Codec) -> Codec:
    if name != expected.name:
        raise DecodeError("codec", f"codec {name!r}, the genesis says {expected.name!r}")
    return expected


def _map(body: Any, keys: set[str], what: str) -> Mapping[str, Any]:
    if not isinstance(body, dict) or set(body) != keys:
        got = sorted(map(str, body)) if isinstance(body, dict) else type(body).__name__
        raise DecodeError("schema", f"{what} fields {got}, expected {sorted(keys)}")
    return body


def encode_update(vector: torch.Tensor, spec: AdapterSpec, codec: Codec, *, mode: str = "model",
                  base: int = -1, degree: int = 0) -> Buffer:
    """A whole model (keyframe, in `codec.keyframe`) or, for sparse codecs, a delta against message `base`.

    `degree` is the sender's own number of neighbours: Metropolis-Hastings needs both ends'
    degrees, and only the sender knows its own. A sender that lies about it gains nothing: the
    weight is 1 / (1 + max(both degrees)), so claiming fewer neighbours cannot raise it above
    what the receiver's own degree allows.
    """
    used = codec.keyframe if mode == "model" else codec
    tensors = _encode_tensors(vector, spec, used)
    return pack({"codec": used.name, "mode": mode, "base": base, "degree": degree, "tensors": tensors})


def decode_update(body: bytes, spec: AdapterSpec, codec: Codec, limits: Limits = DEFAULT_LIMITS) -> Update:
    raw = _map(unpack_bounded(body, limits, "update body"), {"codec", "mode", "base", "degree", "tensors"},
               "update")
    mode, base, degree = raw["mode"], raw["base"], raw["degree"]
    if not isinstance(degree, int) or isinstance(degree, bool) or not 0 <= degree <= MAX_DEGREE:
        raise DecodeError("schema", f"update degree must be an integer in [0, {MAX_DEGREE}]")
    if mode not in MODES:
        raise DecodeError("schema", f"update mode {mode!r}, expected one of {MODES}")
    if not isinstance(base, int) or isinstance(base, bool) or not -1 <= base < 2**63:
        raise DecodeError("schema", "update base must be an integer >= -1")
    if mode == "delta" and not codec.sparse:
        raise DecodeError("schema", f"codec {codec.name} sends whole models, not deltas")
    used = _codec_for(raw["codec"], codec.keyframe if mode == "model" else codec)
    return Update(used.name, mode, base, _decode_tensors(raw["tensors"], used, spec, limits), degree)


def encode_history(records: list[HistoryRecord], spec: AdapterSpec, codec: Codec,
                   memo: dict[bytes, Packed] | None = None) -> Buffer:
    """History records in one body. `memo` (subject -> packed tensor list) lets a peer that sends
    the same records to several neighbours in a round encode each vector once."""
    encoded = []
    for r in records:
        tensors = memo.get(r.subject) if memo is not None else None
        if tensors is None:
            tensors = Packed(pack(_encode_tensors(r.vector, spec, codec)))  # packed now: later changes stay out
            if memo is not None:
                memo[r.subject] = tensors
        encoded.append({"subject": r.subject, "distance": r.distance, "codec": codec.name, "tensors": tensors})
    return pack({"records": encoded})


def decode_history(body: bytes, spec: AdapterSpec, codec: Codec, limits: Limits = DEFAULT_LIMITS,
                   keep: Callable[[bytes, int], bool] | None = None) -> list[HistoryRecord]:
    """The records of a history body. With `keep(subject, distance)`, records the receiver would
    discard anyway are dropped before their tensors are decoded (and so are never used)."""
    raw = _map(unpack_bounded(body, limits, "history body"), {"records"}, "history")
    records = raw["records"]
    if not isinstance(records, list) or len(records) > limits.max_records:
        raise DecodeError("schema", f"history records must be a list of at most {limits.max_records}")
    out = []
    for record in records:
        r = _map(record, {"subject", "distance", "codec", "tensors"}, "history record")
        if not isinstance(r["subject"], bytes) or len(r["subject"]) != PEER_ID_LEN:
            raise DecodeError("schema", "history subject must be a peer id")
        if not isinstance(r["distance"], int) or isinstance(r["distance"], bool) or not 1 <= r["distance"] <= 64:
            raise DecodeError("schema", "history distance must be an integer in [1, 64]")
        if keep is not None and not keep(r["subject"], r["distance"]):
            continue
        vector = _decode_tensors(r["tensors"], _codec_for(r["codec"], codec), spec, limits)
        out.append(HistoryRecord(r["subject"], r["distance"], vector))
    return out


def encode_hello(addrs: list[str], rnd: int) -> Buffer:
    return pack({"addrs": addrs, "round": rnd})


def decode_hello(body: bytes, limits: Limits = DEFAULT_LIMITS) -> tuple[list[str], int]:
    raw = _map(unpack_bounded(body, limits, "hello body"), {"addrs", "round"}, "hello")
    addrs = raw["addrs"]
    if not isinstance(addrs, list) or len(addrs) > 16 or not all(isinstance(a, str) for a in addrs):
        raise DecodeError("schema", "hello addrs must be a list of at most 16 strings")
    if not isinstance(raw["round"], int) or isinstance(raw["round"], bool) or raw["round"] < 0:
        raise DecodeError("schema", "hello round must be a non-negative integer")
    return addrs, raw["round"]


def encode_view(view: list[ViewEntry]) -> Buffer:
    return pack({"view": [{"id": e.peer, "addr": e.addr, "age": e.age} for e in view]})


def decode_view(body: bytes, limits: Limits = DEFAULT_LIMITS) -> list[ViewEntry]:
    raw = _map(unpack_bounded(body, limits, "shuffle body"), {"view"}, "shuffle")
    view = raw["view"]
    if not isinstance(view, list) or len(view) > 256:
        raise DecodeError("schema", "a view is a list of at most 256 entries")
    out = []
    for entry in view:
        e = _map(entry, {"id", "addr", "age"}, "view entry")
        if not isinstance(e["id"], bytes) or len(e["id"]) != PEER_ID_LEN:
            raise DecodeError("schema", "view id must be a peer id")
        if not isinstance(e["addr"], str) or not isinstance(e["age"], int) or isinstance(e["age"], bool) \
                or not 0 <= e["age"] < 2**31:
            raise DecodeError("schema", "view entry needs a string addr and a non-negative int age")
        out.append(ViewEntry(e["id"], e["addr"], e["age"]))
    return out
