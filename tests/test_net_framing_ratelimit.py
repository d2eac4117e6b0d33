"""Frame headers and per-peer rate limits: the pure parts of the network transports."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gossip.transport.framing import HEADER_BYTES, FrameError, header, parse_header
from gossip.transport.ratelimit import RateLimiter, RateLimits


@given(st.integers(1, (1 << 32) - 1))
def test_header_round_trips_within_the_bound(length):
    assert parse_header(header(length), max_frame=length) == length


@given(st.binary(min_size=HEADER_BYTES, max_size=HEADER_BYTES), st.integers(1, 1 << 20))
def test_any_header_is_a_length_in_bounds_or_a_frame_error(data, bound):
    try:
        length = parse_header(data, bound)
    except FrameError:
        return
    assert 0 < length <= bound


@pytest.mark.parametrize("data", [b"", b"\x00\x00\x00", b"\x00\x00\x00\x00", b"\x00\x00\x00\x00\x01"])
def test_short_long_and_empty_headers_are_refused(data):
    with pytest.raises(FrameError):
        parse_header(data, 1 << 20)


def test_an_announced_length_over_the_bound_is_refused_before_reading():
    with pytest.raises(FrameError, match="limit"):
        parse_header(header(2_000_000_000), max_frame=96 << 20)


def test_burst_then_refill():
    limiter = RateLimiter(RateLimits(frames_per_second=10, frame_burst=5, max_strikes=100))
    assert [limiter.allow("p", 10, now=0.0) for _ in range(6)] == [True] * 5 + [False]
    assert limiter.allow("p", 10, now=0.1)          # 0.1 s at 10/s refills one frame
    assert limiter.allow("q", 10, now=0.1)          # peers have their own buckets


def test_bytes_are_limited_as_well_as_frames():
    limiter = RateLimiter(RateLimits(bytes_per_second=1000, byte_burst=1000, max_strikes=100))
    assert limiter.allow("p", 1000, now=0.0)
    assert not limiter.allow("p", 1, now=0.0)
    assert limiter.allow("p", 500, now=0.5)


def test_strikes_ban_a_peer_until_the_ban_expires():
    limiter = RateLimiter(RateLimits(max_strikes=3, strike_window=10, ban_seconds=60))
    assert not limiter.strike("p", 0.0)
    assert not limiter.strike("p", 1.0)
    assert limiter.strike("p", 2.0)                 # the third strike bans
    assert limiter.banned("p", 30.0) and limiter.banned_peers(30.0) == ["p"]
    assert not limiter.allow("p", 1, 30.0)
    assert not limiter.banned("p", 62.0) and limiter.allow("p", 1, 62.0)


def test_old_strikes_fall_out_of_the_window():
    limiter = RateLimiter(RateLimits(max_strikes=3, strike_window=10))
    assert not any(limiter.strike("p", t) for t in (0.0, 1.0, 20.0, 21.0))


def test_a_flood_of_identities_cannot_grow_the_table_without_bound():
    limiter = RateLimiter(RateLimits(max_tracked=100))
    for i in range(1000):
        limiter.allow(f"sybil-{i}", 1, now=0.0)
    assert len(limiter._peers) <= 100


def test_admission_strikes_only_authenticated_keys():
    limits = RateLimits(frames_per_second=1.0, frame_burst=2.0, max_strikes=3, strike_window=60.0, ban_seconds=100.0)
    proven, claimed = RateLimiter(limits), RateLimiter(limits)
    for limiter, authenticated in ((proven, True), (claimed, False)):
        assert limiter.admit("p", 10, 100, 0.0, authenticated=authenticated) == (None, False)
        assert limiter.admit("p", None, 100, 0.0, authenticated=authenticated) == ("oversized", False)  # unreadable
        assert limiter.admit("p", 101, 100, 0.0, authenticated=authenticated) == ("oversized", False)
    # the third offence bans an authenticated key; a claimed one is only ever rate limited
    assert proven.admit("p", 10, 100, 0.0, authenticated=True) == (None, False)
    assert proven.admit("p", 10, 100, 0.0, authenticated=True) == ("rate_limited", True)
    assert proven.admit("p", 10, 100, 50.0, authenticated=True) == ("banned", False)
    for _ in range(10):
        assert claimed.admit("p", 10, 100, 0.0, authenticated=False)[0] in (None, "rate_limited")
    assert claimed.banned_peers(0.0) == [] and proven.banned_peers(50.0) == ["p"]
