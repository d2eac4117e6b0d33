"""Cyclon peer sampling (Voulgaris, Gavidia, van Steen, J. Network Syst. Manage. 2005), as a pure state machine.

Each peer keeps a view of at most `c` entries (peer, age). Every shuffle period it:
  1. ages every entry by one, picks the oldest entry Q and removes it from the view;
  2. sends Q `l - 1` random other entries plus a fresh entry for itself (age 0);
Q answers with up to `l` random entries of its own and merges what it got; the initiator
merges the answer. Merging drops entries for itself and peers already in the view, fills
empty slots first, then replaces the entries it just sent. A departed peer stops answering,
so its entry, once the oldest, is removed and never re-added by anyone who checks it:
views forget departed peers after a few shuffles and stay fresh random samples.

The daemon drives this with real `shuffle` messages, the simulator in memory; both call the
same methods.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import numpy as np

P = TypeVar("P", bound=Hashable)


@dataclass
class CyclonView(Generic[P]):
    self_id: P
    c: int = 20
    l: int = 8  # noqa: E741 - the paper's name for the shuffle length
    rng: np.random.Generator = field(default_factory=np.random.default_rng)
    entries: dict[P, int] = field(default_factory=dict)  # peer -> age

    def __post_init__(self) -> None:
        if not 1 <= self.l <= self.c:
            raise ValueError("Cyclon needs 1 <= l <= c")

    def add(self, peer: P, age: int = 0) -> None:
        """Seed the view (bootstrap); ignored when full or for oneself."""
        if peer != self.self_id and len(self.entries) < self.c:
            self.entries.setdefault(peer, age)

    def remove(self, peer: P) -> None:
        self.entries.pop(peer, None)

    def peers(self) -> list[P]:
        return list(self.entries)

    def sample(self, k: int) -> list[P]:
        """Up to k distinct peers of the view, uniformly at random (gossip targets)."""
        peers = list(self.entries)
        if len(peers) <= k:
            return peers
        return [peers[i] for i in self.rng.choice(len(peers), size=k, replace=False)]

    def start_shuffle(self) -> tuple[P | None, list[tuple[P, int]]]:
        """(target Q, entries to send) or (None, []) with an empty view."""
        if not self.entries:
            return None, []
        for peer in self.entries:
            self.entries[peer] += 1
        target = max(self.entries, key=lambda p: self.entries[p])
        del self.entries[target]
        sent = self._random_entries(self.l - 1)
        return target, [(self.self_id, 0), *sent]

    def answer_shuffle(self, sender: P, received: list[tuple[P, int]]) -> list[tuple[P, int]]:
        """The passive side: reply with up to l random entries, then merge what came."""
        reply = self._random_entries(self.l, exclude=sender)
        self._merge(received, replaceable=[p for p, _ in reply])
        return reply

    def finish_shuffle(self, sent: list[tuple[P, int]], reply: list[tuple[P, int]]) -> None:
        """The active side, once the reply arrives."""
        self._merge(reply, replaceable=[p for p, _ in sent if p != self.self_id])

    def _random_entries(self, count: int, exclude: P | None = None) -> list[tuple[P, int]]:
        peers = [p for p in self.entries if p != exclude]
        if len(peers) > count:
            peers = [peers[i] for i in self.rng.choice(len(peers), size=count, replace=False)]
        return [(p, self.entries[p]) for p in peers]

    def _merge(self, incoming: list[tuple[P, int]], replaceable: list[P]) -> None:
        candidates = [p for p in replaceable if p in self.entries]
        for peer, age in incoming:
            if peer == self.self_id or peer in self.entries:
                continue
            if len(self.entries) < self.c:
                self.entries[peer] = age
            elif candidates:
                del self.entries[candidates.pop()]
                self.entries[peer] = age
