"""A budget of new identities per source and overall: keys cost nothing, admissions do.

An Ed25519 identity is free to make, so nothing that counts per identity (rate limits, strikes,
bans) can stop a client that makes a fresh one for every message. What can be bounded is how
fast *new* identities are let in: a token bucket per source (a remote IP, a connection) and one
for all sources together. An identity that was let in once is not charged again; one that is
refused may try later, when the buckets have refilled.

Pure bookkeeping over a caller-supplied clock, like `ratelimit`.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass

from gossip.transport.ratelimit import TokenBucket


@dataclass(frozen=True)
class NewcomerLimits:
    per_source_burst: float = 32.0
    per_source_per_minute: float = 16.0
    overall_burst: float = 64.0
    overall_per_minute: float = 32.0
    max_sources: int = 4096      # sources with a bucket; the least recently seen is forgotten beyond this
    max_admitted: int = 65536    # identities remembered as admitted; beyond it the oldest pays again


class NewcomerBudget:
    def __init__(self, limits: NewcomerLimits | None = None) -> None:
        self.limits = limits or NewcomerLimits()
        lim = self.limits
        self._overall = TokenBucket(lim.overall_per_minute / 60, lim.overall_burst, lim.overall_burst, 0.0)
        self._sources: OrderedDict[Hashable, TokenBucket] = OrderedDict()
        self._admitted: OrderedDict[Hashable, None] = OrderedDict()

    def admit(self, identity: Hashable, source: Hashable, now: float) -> bool:
        """True when `identity` was admitted before, or is now (charging `source` and the total)."""
        if identity in self._admitted:
            self._admitted.move_to_end(identity)
            return True
        bucket = self._source_bucket(source, now)
        if bucket.level < 1 or not self._overall.take(1, now) or not bucket.take(1, now):
            return False
        self._admitted[identity] = None
        while len(self._admitted) > self.limits.max_admitted:
            self._admitted.popitem(last=False)
        return True

    def _source_bucket(self, source: Hashable, now: float) -> TokenBucket:
        bucket = self._sources.pop(source, None)
        if bucket is None:
            lim = self.limits
            bucket = TokenBucket(lim.per_source_per_minute / 60, lim.per_source_burst, lim.per_source_burst, now)
            while len(self._sources) >= lim.max_sources:
                self._sources.popitem(last=False)
        bucket.take(0, now)  # refill to now, so the level read above is current
        self._sources[source] = bucket
        return bucket
