"""How long a free-running peer waits for its neighbours' updates in a round.

The window is the median arrival delay plus `window_spread` interquartile ranges, over the last
`window_history` waits, clamped to [min_window, max_window] (`initial_window` until 8 waits are
known). A wait is recorded from the moment collection starts.

Waits that end with the window are censored: the updates that did not come took at least the
window. Recording only the arrivals that made it biases the statistics short, and the bias
feeds itself: a shorter window sees only shorter delays, and a peer can lock itself into
windows so short that it merges almost nothing while it races through rounds (seen in both
simulation engines on the quickstart: one peer of 16 at a 0.4 s window and 1.5x the others'
rounds, where its neighbours took about 1.3 s). So each missing update is recorded as a wait of
the whole window, the lower bound of its delay: when most updates miss, the median climbs to the
window and the spread of the waits that did arrive carries the next window past it.

Twice the window (a backoff, as TCP's retransmission timer) was tried and rejected: it also
lengthens the windows of peers that are not trapped (a fast peer's neighbours are slower, and
push gossip does not always deliver `expected` updates), so they ran 18 % fewer rounds, and the
quickstart ended 2.8 points lower in the nodes engine (0.806 against 0.834).
"""

from __future__ import annotations

from collections.abc import Collection

import numpy as np

from peer.settings import NodeSettings


def collection_window(waits: Collection[float], settings: NodeSettings) -> float:
    """The next collection window, from the recorded waits."""
    if len(waits) < 8:
        return settings.initial_window
    q25, q50, q75 = np.quantile(np.fromiter(waits, float, count=len(waits)), [0.25, 0.5, 0.75])
    return float(min(settings.max_window, max(settings.min_window, q50 + settings.window_spread * (q75 - q25))))


def censored_waits(window: float, expected: int, arrived: int) -> list[float]:
    """What to record for the updates that did not arrive within `window`: the window, once each."""
    return [window] * max(0, expected - arrived)
