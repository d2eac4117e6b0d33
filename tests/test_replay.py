"""The replay guard: each seq once, reordering within the window, bounded memory in two tiers."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gossip.errors import ReplayError
from gossip.replay import ReplayGuard


@given(seqs=st.lists(st.integers(0, 200), max_size=60), member=st.booleans())
def test_each_seq_is_accepted_at_most_once_and_fresh_ones_always(seqs, member):
    guard = ReplayGuard(window=32)
    accepted = []
    for seq in seqs:
        try:
            guard.check(b"s", seq, member)
            accepted.append(seq)
        except ReplayError:
            pass
    assert len(accepted) == len(set(accepted))
    highest = max(seqs, default=0)
    for seq in set(seqs):
        if seq > highest - 32 and seq not in accepted:
            pytest.fail(f"fresh seq {seq} was refused")


def test_memory_is_bounded_in_each_tier():
    guard = ReplayGuard(window=8, max_members=3, max_strangers=2)
    for i in range(10):
        guard.check(bytes([i]), 0, member=i % 2 == 0)
    assert guard.senders(member=True) == 3 and guard.senders(member=False) == 2


def test_a_flood_of_strangers_cannot_evict_a_member_and_reopen_its_old_seqs():
    guard = ReplayGuard(window=64, max_members=8, max_strangers=16)
    neighbour = b"neighbour"
    guard.check(neighbour, 41, member=True)
    for i in range(2000):                      # fresh identities cost nothing
        guard.check(i.to_bytes(4, "big"), 0, member=False)
    with pytest.raises(ReplayError, match="already received"):
        guard.check(neighbour, 41, member=True)
    assert guard.senders(member=False) == 16


def test_a_stranger_that_becomes_a_member_keeps_its_window():
    guard = ReplayGuard(window=64)
    guard.check(b"newcomer", 5, member=False)
    with pytest.raises(ReplayError):
        guard.check(b"newcomer", 5, member=True)
    assert guard.senders(member=False) == 0 and guard.senders(member=True) == 1
