"""Adversarial behaviours plugged into the real `PeerNode` loop.

- `ModelPoisoner`: trains honestly, then sends attack(start, trained, neighbours' models) (sign
  flip, noise, ALIE, IPM). It knows what its honest neighbours sent it; in lock-step mode it
  listens first, so that is this round's models of all of them. Omniscient (`attack.omniscient`),
  it reads every honest peer's model of the gossip step instead, from a `SendLedger`.
- Data attacks (label flipping, backdoor) need no behaviour of their own: the peer's trainer
  gets the attack as a batch transform and the peer otherwise follows the protocol.
- `SybilClone`: one of k identities of one adversary; it does not train, it sends the leader's
  latest poisoned vector plus small seeded jitter.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from peer.node import PeerNode
from robust.attacks import sybil_clones


@dataclass
class Adversary:
    """State shared by every identity of one adversary (colluders know each other)."""

    latest: torch.Tensor | None = None        # what its leader sent last
    addresses: frozenset = frozenset()        # its identities' network addresses
    peer_ids: frozenset[bytes] = frozenset()  # and their peer ids, as messages name them
    previous: torch.Tensor | None = None      # what the leader sent before that
    sends: int = 0                            # how many sends the leader made

    def record(self, sent: torch.Tensor) -> None:
        self.previous, self.latest, self.sends = self.latest, sent, self.sends + 1

    def sent_before(self, step: int) -> torch.Tensor | None:
        """In lock-step, what the leader sent at the gossip step before the `step`-th one (counted from 0):
        a clone sends when the step opens, before the leader (it does not train), so it copies that
        even when the event loop happens to run the leader's send of this step first."""
        return self.previous if self.sends > step else self.latest


@dataclass
class SendLedger:
    """What an omniscient attacker sees in a lock-step run: every honest peer's model as it sent it
    this gossip step. It counts each honest node's sends (an `after_send` hook); until the next
    aggregation, which the lock-step barrier holds back until the attackers have sent too, a
    node's adapter is exactly what it sent."""

    nodes: dict[bytes, PeerNode] = field(default_factory=dict)  # honest peers by peer id
    online: Callable[[bytes], bool] = lambda peer_id: True
    sends: dict[bytes, int] = field(default_factory=dict)

    def watch(self, node: PeerNode) -> None:
        peer_id = node.identity.peer_id
        self.nodes[peer_id], self.sends[peer_id] = node, 0

        async def count(step: int, targets: list) -> None:
            self.sends[peer_id] += 1

        node.after_send(count)

    def all_sent(self, count: int) -> bool:
        return all(self.sends[p] >= count for p in self.nodes if self.online(p))

    def models(self) -> torch.Tensor:
        """[h, d] in peer-id order, the batched engine's order too."""
        return torch.stack([self.nodes[p].adapter.get_vector() for p in sorted(self.nodes) if self.online(p)])


class ModelPoisoner:
    trains = True
    listens = True

    def __init__(self, attack, adversary: Adversary, generator: torch.Generator,
                 ledger: SendLedger | None = None) -> None:
        self.attack, self.adversary, self.generator, self.ledger = attack, adversary, generator, ledger
        self.sent = 0

    def heard_enough(self, node: PeerNode) -> bool:
        """Every honest neighbour's update is in (colluders are not waited for: they listen too). An
        omniscient attacker sends at the same moment, once every honest peer has sent this gossip
        step (in lock-step they all send together, so that holds by then): it knows more, not sooner."""
        if self.ledger is not None and not self.ledger.all_sent(self.sent + 1):
            return False
        honest = sum(a not in self.adversary.addresses for a in node.sampler.neighbours())
        return sum(s not in self.adversary.peer_ids for s in node.received) >= honest

    def outgoing(self, node: PeerNode, start: torch.Tensor, trained: torch.Tensor) -> torch.Tensor:
        if self.ledger is not None:
            neighbours = self.ledger.models()
        else:
            senders = sorted(s for s in node.received if s not in self.adversary.peer_ids)
            neighbours = (torch.stack([node.received[s].vector for s in senders]) if senders
                          else torch.empty(0, start.numel()))
        self.sent += 1
        poisoned = self.attack(start, trained, neighbours, self.generator)
        self.adversary.record(poisoned)
        return poisoned


class DataPoisoner:
    """Follows the protocol with a poisoned training set; records its model for its clones.

    `boost` > 1 sends start + boost·(trained − start): explicit boosting (Bhagoji, Chakraborty,
    Mittal, Calo, "Analyzing Federated Learning through an Adversarial Lens", ICML 2019), the
    usual way a few poisoners outweigh many honest peers in an average.
    """

    trains = True
    listens = False

    def __init__(self, adversary: Adversary, boost: float = 1.0) -> None:
        if not boost > 0:
            raise ValueError("attack.params.boost must be > 0")
        self.adversary, self.boost = adversary, boost

    def outgoing(self, node: PeerNode, start: torch.Tensor, trained: torch.Tensor) -> torch.Tensor:
        poisoned = trained if self.boost == 1.0 else start + self.boost * (trained - start)
        self.adversary.record(poisoned)
        return poisoned


class SybilClone:
    trains = False
    listens = False

    def __init__(self, adversary: Adversary, jitter: float, generator: torch.Generator) -> None:
        self.adversary, self.jitter, self.generator = adversary, jitter, generator
        self.sent = 0

    def outgoing(self, node: PeerNode, start: torch.Tensor, trained: torch.Tensor) -> torch.Tensor:
        leader = self.adversary.sent_before(self.sent) if node.pacer.lock_step else self.adversary.latest
        self.sent += 1
        return sybil_clones(leader if leader is not None else start, 1, self.jitter, self.generator)[0]
