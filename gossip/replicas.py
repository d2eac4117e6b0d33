"""Per-neighbour replicas for sparse codecs (the CHOCO-gossip scheme, Koloskova, Stich, Jaggi, ICML 2019).

A top-k message cannot carry a whole model, so the sender keeps, per neighbour, the copy x̂ that
the neighbour has reconstructed of it and sends q = C(x - x̂); both sides then add q to x̂.
What a message drops stays in x - x̂ and goes out later: the error feedback is built in.

Every `keyframe_every` messages (and for the first one) the sender sends the whole model in the
codec's dense keyframe codec. A receiver applies a delta only on top of exactly the message it
names (`base`); after a loss it ignores deltas until the next keyframe.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass

import torch

from gossip.codecs import Codec
from gossip.errors import DecodeError
from gossip.packing import Buffer
from gossip.payloads import Update, decode_update, encode_update
from gossip.spec import AdapterSpec


@dataclass
class _Replica:
    vector: torch.Tensor
    last_seq: int
    since_keyframe: int = 0


class ReplicaSender:
    def __init__(self, codec: Codec, spec: AdapterSpec, keyframe_every: int = 10, max_targets: int = 1024) -> None:
        self.codec, self.spec = codec, spec
        self.keyframe_every = max(1, keyframe_every)
        self.max_targets = max_targets
        self._replicas: OrderedDict[Hashable, _Replica] = OrderedDict()

    def bodies_for(self, targets: list[Hashable], vector: torch.Tensor, seqs: list[int],
                   degree: int = 0) -> list[Buffer]:
        """Update bodies for `targets`, the i-th carried by the message numbered `seqs[i]`; `degree`
        is the sender's number of neighbours, carried in each body.

        A whole-model body is the same for every target that gets one (every target of a dense
        codec), so it is encoded, and for replicas decoded, once per call, not once per target.
        """
        keyframe: tuple[Buffer, torch.Tensor] | None = None
        bodies = []
        for target, seq in zip(targets, seqs, strict=True):
            replica = self._replicas.get(target) if self.codec.sparse else None
            if replica is not None and replica.since_keyframe + 1 < self.keyframe_every:
                body = encode_update(vector - replica.vector, self.spec, self.codec, mode="delta",
                                     base=replica.last_seq, degree=degree)
                replica.vector = replica.vector + decode_update(body, self.spec, self.codec).vector
                replica.last_seq, replica.since_keyframe = seq, replica.since_keyframe + 1
            else:
                if keyframe is None:
                    body = encode_update(vector, self.spec, self.codec, mode="model", degree=degree)
                    keyframe = body, decode_update(body, self.spec, self.codec).vector if self.codec.sparse else vector
                body = keyframe[0]
                if self.codec.sparse:
                    self._replicas[target] = _Replica(keyframe[1], seq)  # replicas are replaced, never changed in place
            if self.codec.sparse:
                self._replicas.move_to_end(target)
            bodies.append(body)
        while len(self._replicas) > self.max_targets:
            self._replicas.popitem(last=False)
        return bodies

    def forget(self, target: Hashable) -> None:
        """Next message to `target` is a keyframe (it restarted or was unreachable)."""
        self._replicas.pop(target, None)


class ReplicaReceiver:
    def __init__(self, max_senders: int = 4096) -> None:
        self.max_senders = max_senders
        self._replicas: OrderedDict[bytes, _Replica] = OrderedDict()

    def apply(self, sender: bytes, seq: int, update: Update) -> torch.Tensor:
        """The sender's model as reconstructed here; DecodeError('delta_gap') when a delta cannot apply."""
        if update.mode == "model":
            replica = _Replica(update.vector, seq)
        else:
            replica = self._replicas.get(sender)
            if replica is None or replica.last_seq != update.base:
                raise DecodeError("delta_gap", "a delta on a message this peer did not receive; waiting for a keyframe")
            replica = _Replica(replica.vector + update.vector, seq)
        self._replicas[sender] = replica
        self._replicas.move_to_end(sender)
        while len(self._replicas) > self.max_senders:
            self._replicas.popitem(last=False)
        return replica.vector
