"""Replay guard: a per-sender sliding window over `seq`, as in IPsec anti-replay.

A sender numbers its messages 0, 1, 2, ...; the guard accepts each number once, tolerates
reordering within `window`, and rejects anything older. Memory is bounded: at most
`max_senders` windows, least recently heard evicted first.
"""

from __future__ import annotations

from collections import OrderedDict

from gossip.errors import ReplayError


class ReplayGuard:
    def __init__(self, window: int = 1024, max_senders: int = 65536) -> None:
        if window < 1:
            raise ValueError("window must be positive")
        self.window = window
        self.max_senders = max_senders
        # sender -> (highest seq seen, bitmask of seen seqs: bit i = highest - i)
        self._state: OrderedDict[bytes, tuple[int, int]] = OrderedDict()

    def check(self, sender: bytes, seq: int) -> None:
        """Record `seq` from `sender`, or raise ReplayError when it was seen or is too old."""
        state = self._state.get(sender)
        if state is None:
            self._remember(sender, seq, 1)
            return
        highest, mask = state
        if seq > highest:
            shift = seq - highest
            mask = ((mask << shift) | 1) & ((1 << self.window) - 1) if shift < self.window else 1
            self._remember(sender, seq, mask)
            return
        age = highest - seq
        if age >= self.window:
            raise ReplayError("replay", f"seq {seq} is older than the window ({highest} - {self.window})")
        if mask >> age & 1:
            raise ReplayError("replay", f"seq {seq} was already received")
        self._remember(sender, highest, mask | (1 << age))

    def highest(self, sender: bytes) -> int | None:
        state = self._state.get(sender)
        return None if state is None else state[0]

    def _remember(self, sender: bytes, highest: int, mask: int) -> None:
        self._state[sender] = (highest, mask)
        self._state.move_to_end(sender)
        while len(self._state) > self.max_senders:
            self._state.popitem(last=False)
