"""A simulated link's random draws, tied to each frame's identity instead of its turn.

Drawn from one shared random stream, the n-th frame sent gets the n-th draw, so two engines
that put the same frames in flight in different orders (the nodes engine in event-loop order,
the batched engine peer by peer) give the same frame different delays and losses, and their
runs part after the first jittered message. Here a frame's draws are a hash of the run's seed,
its link (source, target), its number on that link, and the purpose (loss or jitter): the same
frame gets the same draws in any order.

The hash is splitmix64's finaliser, applied once per word: cheap in plain Python (about a
microsecond a frame) and uniform enough for a loss coin and a jitter.
"""

from __future__ import annotations

from collections import Counter
from typing import NamedTuple

_MASK = 2**64 - 1
_LOSS, _JITTER = 1, 2


def _mix(z: int) -> int:
    """splitmix64: a bijection of 64-bit words whose outputs look independent for nearby inputs."""
    z = (z + 0x9E3779B97F4A7C15) & _MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return z ^ (z >> 31)


def uniform(seed: int, *words: int) -> float:
    """A number in [0, 1) that depends on `seed` and `words` only."""
    h = _mix(seed & _MASK)
    for word in words:
        h = _mix(h ^ (word & _MASK))
    return (h >> 11) * 2.0**-53


class FrameDraws(NamedTuple):
    loss: float     # the frame is lost when this is below the link's loss probability
    jitter: float   # its extra delay is this times the link's jitter


class LinkDraws:
    """The draws of every frame of one simulated run; addresses are peer indices."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.frames: Counter[tuple[int, int]] = Counter()  # frames put on each link so far

    def next_frame(self, source: int, target: int) -> FrameDraws:
        """The draws of the next frame on the link source → target."""
        number = self.frames[source, target]
        self.frames[source, target] = number + 1
        return FrameDraws(uniform(self.seed, source, target, number, _LOSS),
                          uniform(self.seed, source, target, number, _JITTER))
