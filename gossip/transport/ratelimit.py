"""Per-peer rate limits, so a flooding neighbour cannot exhaust memory or CPU.

Each remote address gets two token buckets (frames per second and bytes per second, each with
a burst allowance). A frame that does not fit, an oversized frame or a message the node
rejects is a *strike*; after `max_strikes` strikes within `strike_window` seconds the peer is
banned for `ban_seconds`: the transport disconnects it and refuses its frames until then.
Pure bookkeeping over a caller-supplied clock, so tests drive it without sleeping.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class RateLimits:
    frames_per_second: float = 50.0
    frame_burst: float = 100.0
    bytes_per_second: float = 64e6
    byte_burst: float = 128e6
    max_strikes: int = 20
    strike_window: float = 10.0
    ban_seconds: float = 300.0
    max_tracked: int = 4096     # peers with buckets; the longest-known one is forgotten beyond this


@dataclass
class TokenBucket:
    """`rate` tokens per second up to `capacity`; `take` spends them when there are enough."""

    rate: float
    capacity: float
    level: float
    updated: float

    def take(self, amount: float, now: float) -> bool:
        self.level = min(self.capacity, self.level + (now - self.updated) * self.rate)
        self.updated = now
        if amount > self.level:
            return False
        self.level -= amount
        return True


@dataclass
class _PeerState:
    frames: TokenBucket
    bytes: TokenBucket
    strikes: deque[float] = field(default_factory=deque)


class RateLimiter:
    def __init__(self, limits: RateLimits | None = None) -> None:
        self.limits = limits or RateLimits()
        self._peers: dict[Hashable, _PeerState] = {}
        self._banned_until: dict[Hashable, float] = {}

    def _state(self, peer: Hashable, now: float) -> _PeerState:
        state = self._peers.get(peer)
        if state is None:
            lim = self.limits
            if len(self._peers) >= lim.max_tracked:
                del self._peers[next(iter(self._peers))]
            state = _PeerState(TokenBucket(lim.frames_per_second, lim.frame_burst, lim.frame_burst, now),
                               TokenBucket(lim.bytes_per_second, lim.byte_burst, lim.byte_burst, now))
            self._peers[peer] = state
        return state

    def banned(self, peer: Hashable, now: float) -> bool:
        until = self._banned_until.get(peer)
        if until is None:
            return False
        if now >= until:
            del self._banned_until[peer]
            return False
        return True

    def allow(self, peer: Hashable, size: int, now: float, *, strike: bool = True) -> bool:
        """True when a frame of `size` bytes fits both buckets; a frame that does not is a strike,
        unless `strike` is False (the key is only a claim, such as an MQTT topic's sender part)."""
        if self.banned(peer, now):
            return False
        state = self._state(peer, now)
        if state.frames.take(1, now) and state.bytes.take(size, now):
            return True
        if strike:
            self.strike(peer, now)
        return False

    def admit(self, peer: Hashable, size: int | None, max_frame: int, now: float, *,
              authenticated: bool) -> tuple[str | None, bool]:
        """The one frame-admission policy of every network transport: (None, False) when a frame of
        `size` bytes (None: its header was unreadable) from `peer` may be read, else (the reason it is
        refused: "banned", "oversized" or "rate_limited", whether this refusal got `peer` banned).

        Only an `authenticated` key (libp2p's Noise identity) collects strikes; a key that is only a
        claim (an MQTT topic's sender part) is rate limited but never struck, so nobody can get
        another peer banned by writing its id."""
        if self.banned(peer, now):
            return "banned", False
        if size is None or size > max_frame:
            return "oversized", authenticated and self.strike(peer, now)
        if self.allow(peer, size, now, strike=authenticated):
            return None, False
        return "rate_limited", self.banned(peer, now)

    def strike(self, peer: Hashable, now: float) -> bool:
        """Count one offence; True when it got the peer banned (the caller disconnects it)."""
        if self.banned(peer, now):
            return False
        strikes = self._state(peer, now).strikes
        strikes.append(now)
        while strikes and strikes[0] < now - self.limits.strike_window:
            strikes.popleft()
        if len(strikes) < self.limits.max_strikes:
            return False
        self._banned_until[peer] = now + self.limits.ban_seconds
        del self._peers[peer]
        return True

    def banned_peers(self, now: float) -> list[Hashable]:
        return [p for p in list(self._banned_until) if self.banned(p, now)]
