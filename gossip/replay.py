"""Replay guard: a per-sender sliding window over `seq`, as in IPsec anti-replay.

A sender numbers its messages 0, 1, 2, ...; the guard accepts each number once, tolerates
reordering within `window`, and rejects anything older. Memory is bounded, and in two tiers:
`members` (senders the peer has admitted: its neighbours) and strangers. Each tier evicts its
least recently heard sender when full, and a stranger can only ever evict another stranger, so a
flood of fresh identities, which costs nothing, cannot push a neighbour's window out and make an
old message of it acceptable again.
"""

from __future__ import annotations

from collections import OrderedDict

from gossip.errors import ReplayError


class ReplayGuard:
    def __init__(self, window: int = 1024, max_members: int = 4096, max_strangers: int = 4096) -> None:
        if window < 1:
            raise ValueError("window must be positive")
        self.window = window
        self.limits = {True: max_members, False: max_strangers}
        # member? -> sender -> (highest seq seen, bitmask of seen seqs: bit i = highest - i)
        self._tiers: dict[bool, OrderedDict[bytes, tuple[int, int]]] = {True: OrderedDict(), False: OrderedDict()}

    def check(self, sender: bytes, seq: int, member: bool = True) -> None:
        """Record `seq` from `sender`, or raise ReplayError when it was seen or is too old.

        `member` says which tier the sender's window lives in from now on; a stranger that has
        become a member takes its window along.
        """
        state = self._tiers[not member].pop(sender, None) or self._tiers[member].get(sender)
        if state is None:
            self._remember(sender, seq, 1, member)
            return
        highest, mask = state
        if seq > highest:
            shift = seq - highest
            mask = ((mask << shift) | 1) & ((1 << self.window) - 1) if shift < self.window else 1
            self._remember(sender, seq, mask, member)
            return
        self._remember(sender, highest, mask, member)  # kept (and moved tier) even when this one is refused
        age = highest - seq
        if age >= self.window:
            raise ReplayError("replay", f"seq {seq} is older than the window ({highest} - {self.window})")
        if mask >> age & 1:
            raise ReplayError("replay", f"seq {seq} was already received")
        self._remember(sender, highest, mask | (1 << age), member)

    def senders(self, member: bool) -> int:
        """How many senders' windows the tier holds (in the daemon's /status)."""
        return len(self._tiers[member])

    def _remember(self, sender: bytes, highest: int, mask: int, member: bool) -> None:
        tier = self._tiers[member]
        tier[sender] = (highest, mask)
        tier.move_to_end(sender)
        while len(tier) > self.limits[member]:
            tier.popitem(last=False)
