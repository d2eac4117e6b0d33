"""SybilWall's history gossip, riding on a node as an `Extension`.

SybilWall (`robust.sybilwall`) keeps the update histories and decides which records to pass
on; this module moves them: after the first gossip step of every `history_every`-th round
it sends each target the records the rule picks for it, and it hands received `history`
messages (from members only) to the rule, decoding only the records the rule would keep.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

import torch

from gossip import wire
from gossip.packing import Packed
from gossip.payloads import decode_history, encode_history
from gossip.transport import Address
from robust.history import HistoryRecord

if TYPE_CHECKING:
    from peer.node import PeerNode
    from peer.seams import Extension


class HistoryKeeper(Protocol):
    """What the exchange needs of a rule that gossips histories (`robust.sybilwall.SybilWall`)."""

    self_id: bytes | None

    def records_for(self, recipient: bytes, generator: torch.Generator) -> list[HistoryRecord]: ...

    def wants(self, sender: bytes, subject: bytes, distance: int) -> bool: ...

    def receive(self, sender: bytes, records: list[HistoryRecord]) -> None: ...


class HistoryExchange:
    def __init__(self, rule: HistoryKeeper) -> None:
        self.rule = rule
        self._memo: dict[bytes, Packed] = {}  # this round's encoded records, shared by all targets
        self._node: PeerNode | None = None

    def attach(self, node: PeerNode) -> None:
        self._node = node
        self.rule.self_id = node.peer_id  # a record about this peer is never stored
        node.route("history", self.receive, members_only=True)
        node.after_send(self.send)

    def receive(self, envelope: wire.Envelope, address: Address) -> None:
        node, rule, sender = self._require_node(), self.rule, envelope.sender
        records = decode_history(envelope.body, node.spec, node.codec.keyframe,
                                 keep=lambda subject, distance: rule.wants(sender, subject, distance))
        rule.receive(sender, records)

    async def send(self, step: int, targets: list[Address]) -> None:
        node = self._require_node()
        if step != 0 or node.round % node.settings.history_every != 0:
            return
        self._memo.clear()  # the histories changed since the last round
        for target in targets:
            records = self.rule.records_for(node.signer_at(target), node.generator)
            if records:
                await node.send(target, "history", encode_history(records, node.spec, node.codec.keyframe,
                                                                  self._memo))

    def _require_node(self) -> PeerNode:
        if self._node is None:
            raise RuntimeError("HistoryExchange is not attached to a node")
        return self._node


RULE_EXTENSIONS: dict[str, Callable[[Any], Extension]] = {"sybilwall": HistoryExchange}
"""Aggregation rules that need message kinds of their own on the node, by genesis rule name."""
