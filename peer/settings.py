"""Every timeout and bound of a peer's round loop, in one place (p2pfl's lesson)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class NodeSettings:
    initial_window: float = 2.0     # seconds to collect updates before arrival statistics exist
    min_window: float = 0.05        # the adaptive window never drops below ...
    max_window: float = 30.0        # ... nor grows beyond these
    window_spread: float = 2.0      # window = median delay + spread × interquartile range
    window_history: int = 128       # arrival delays remembered for the window
    max_staleness: int = 5          # rounds; older updates are dropped
    keyframe_every: int = 10        # sparse codecs: a whole model every N messages to a neighbour
    history_every: int = 1          # SybilWall: gossip history records every N rounds
    checkpoint_every: int = 1       # rounds between checkpoints (when a store is given)
    step_seconds: float = 0.0       # simulator: virtual compute seconds per local step at speed 1
    train_in_thread: bool = False   # daemon: train off the event loop so receiving never stalls
    # daemon: move the own round counter towards the members' (at most max_staleness per
    # aggregation), so a peer that joined late or was away is not stale to everyone for good
    catch_up_rounds: bool = False
