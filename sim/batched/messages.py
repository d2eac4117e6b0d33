"""The real encoded sizes of what crosses the simulated wire in the batched engine.

No message is encoded per send (the values receivers decode come from `sim.batched.replicas`).
Sizes come from the real encoder: an update body's tensors have a fixed length for a given
codec and mode, and an envelope's length varies only with the msgpack width
of its `seq` and `round`. msgpack's integer widths change only at powers of two, so each
(kind, body length, bit lengths of seq and round) is encoded and signed once and remembered.
"""

from __future__ import annotations

import torch

from gossip import wire
from gossip.codecs import Codec
from gossip.identity import Identity
from gossip.packing import Packed, pack
from gossip.payloads import encode_history, encode_update
from gossip.spec import AdapterSpec
from robust.history import HistoryRecord

_T_MS = 1_700_000_000_000  # any wall-clock millisecond count of this era has the same msgpack width
_SIGNER = Identity.from_seed(bytes(32))  # any key signs to the same length; module-level, so a run pickles


class MessageSizes:
    """Exact encoded sizes of the messages a peer of this network sends."""

    def __init__(self, genesis_net: bytes, spec: AdapterSpec, codec: Codec) -> None:
        self.net, self.spec, self.codec = genesis_net, spec, codec
        self._bodies: dict[tuple[str, int, int], int] = {}
        self._history_bodies: dict[int, int] = {}  # record count -> body length
        self._record_tensors = Packed(bytes(pack([codec.keyframe.encode(t.name, torch.zeros(t.shape))
                                                  for t in spec.tensors])))  # bytes: a run pickles
        self._cache: dict[tuple[str, int, int, int], int] = {}

    def envelope(self, kind: str, body_bytes: int, seq: int, rnd: int) -> int:
        key = (kind, body_bytes, seq.bit_length(), rnd.bit_length())
        size = self._cache.get(key)
        if size is None:
            envelope = wire.Envelope(kind=kind, sender=_SIGNER.peer_id, seq=seq, round=rnd, t=_T_MS,
                                     body=bytes(body_bytes), net=self.net)
            size = self._cache[key] = len(wire.encode(envelope, _SIGNER))
        return size

    def update(self, mode: str, base: int, degree: int, seq: int, rnd: int) -> int:
        """An update's size: its tensors have a fixed length for a given codec and mode; `base` and
        `degree` vary only in their msgpack width."""
        key = (mode, base.bit_length() if base >= 0 else -1, degree.bit_length())
        body = self._bodies.get(key)
        if body is None:
            body = self._bodies[key] = len(encode_update(torch.zeros(self.spec.numel), self.spec, self.codec,
                                                         mode=mode, base=base, degree=degree))
        return self.envelope("update", body, seq, rnd)

    def history(self, records: list[HistoryRecord], seq: int, rnd: int) -> int:
        """The real body of these records (their tensors stand in at their exact packed size),
        encoded once per record count: a subject is a fixed-length id and a distance lies in
        [1, 64], one byte in msgpack, so the body's length depends on the count alone. (Packing
        each history body took a sixth of an async SybilWall run.)"""
        body = self._history_bodies.get(len(records))
        if body is None:
            memo = {r.subject: self._record_tensors for r in records}
            body = self._history_bodies[len(records)] = len(
                encode_history(records, self.spec, self.codec.keyframe, memo))
        return self.envelope("history", body, seq, rnd)
