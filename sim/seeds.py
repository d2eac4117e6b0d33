"""Independent seeds for every random choice of a run, derived from one run seed by name."""

from __future__ import annotations

import hashlib


def derive_seed(seed: int, *parts: object) -> int:
    """A 63-bit seed for the stream `parts` of run `seed` (sim, partition, link, peer i, ...): streams
    do not share draws, so adding one never shifts another's numbers."""
    digest = hashlib.sha256("/".join(map(str, (seed, *parts))).encode()).digest()
    return int.from_bytes(digest[:8], "little") & (2**63 - 1)
