"""What every sender of one send round puts on the wire, as decoded `Update`s, with CHOCO replicas.

The batched twin of `gossip.replicas.ReplicaSender`: a dense codec sends the whole model to every
target; a sparse codec keeps, per (sender, target), the copy x̂ the target has reconstructed and
sends C(x - x̂), with a keyframe on the first message and every `keyframe_every`-th. The same
rules as the node's, but the top-k selections of all (sender, target) pairs of a round are one
batched `Codec.received` call. Receivers apply the updates with the real
`gossip.replicas.ReplicaReceiver`, so a lost delta is refused (`delta_gap`) until the next keyframe,
as it is in a node.
"""

from __future__ import annotations

from collections import OrderedDict, defaultdict
from dataclasses import dataclass

import torch

from gossip.codecs import Codec
from gossip.payloads import Update
from gossip.spec import AdapterSpec


def received_tensors(codec: Codec, spec: AdapterSpec, rows: torch.Tensor) -> torch.Tensor:
    """What receivers decode from messages carrying each row of `rows` ([R, d]) in `codec`, which
    encodes tensor by tensor, as the real payload does."""
    return torch.cat([codec.received(rows[:, piece]) for _, piece in spec.slices()], dim=1)


@dataclass(frozen=True)
class _Held:
    """What a target holds of a sender, if none of the sender's messages to it was lost."""

    vector: torch.Tensor
    last_seq: int
    since_keyframe: int = 0


class BatchedReplicaSender:
    def __init__(self, codec: Codec, spec: AdapterSpec, keyframe_every: int, max_targets: int = 1024) -> None:
        self.codec, self.spec = codec, spec
        self.keyframe_every, self.max_targets = max(1, keyframe_every), max_targets
        self._held: defaultdict[int, OrderedDict[int, _Held]] = defaultdict(OrderedDict)

    def updates(self, senders: list[int], rows: torch.Tensor, targets: list[list[int]], seqs: list[list[int]],
                degrees: list[int]) -> list[list[Update | None]]:
        """Per sender, the update each of its targets decodes (None where the values are not finite:
        the receiver refuses it); `rows[k]` is what sender k sends, `seqs[k][j]` numbers its j-th message."""
        keyframe = self.codec.keyframe
        models = received_tensors(keyframe, self.spec, rows)
        finite = torch.isfinite(models).all(dim=1).tolist()
        out: list[list[Update | None]] = []
        pending: list[tuple[int, int, int, _Held, int]] = []  # (sender k, message j, target, held, seq)
        for k, sender in enumerate(senders):
            model = Update(keyframe.name, "model", -1, models[k], degrees[k]) if finite[k] else None
            held_by = self._held[sender] if self.codec.sparse else None
            messages: list[Update | None] = []
            for target, seq in zip(targets[k], seqs[k], strict=True):
                held = held_by.get(target) if held_by is not None else None
                if held is not None and held.since_keyframe + 1 < self.keyframe_every:
                    pending.append((k, len(messages), target, held, seq))
                elif held_by is not None:
                    held_by[target] = _Held(models[k], seq)
                messages.append(model)
                if held_by is not None:
                    held_by.move_to_end(target)
            while held_by is not None and len(held_by) > self.max_targets:
                held_by.popitem(last=False)
            out.append(messages)
        if pending:
            deltas = torch.stack([rows[k] - held.vector for k, _, _, held, _ in pending])
            sent = received_tensors(self.codec, self.spec, deltas)
            ok = torch.isfinite(sent).all(dim=1).tolist()
            for (k, j, target, held, seq), q, fine in zip(pending, sent, ok, strict=True):
                out[k][j] = Update(self.codec.name, "delta", held.last_seq, q, degrees[k]) if fine else None
                self._held[senders[k]][target] = _Held(held.vector + q, seq, held.since_keyframe + 1)
        return out

    def forget(self, sender: int, target: int) -> None:
        """The next message from `sender` to `target` is a keyframe (the last one did not leave)."""
        self._held[sender].pop(target, None)
