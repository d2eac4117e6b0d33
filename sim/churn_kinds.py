"""Every churn kind a simulation config may name, and how each becomes a list of events.

The one list `[churn] kind` is validated against and both engines build their events from
(`sim.runner.churn_events`); the processes themselves are pure functions in `topology.churn`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from topology import churn
from topology.churn import ChurnEvent
from topology.graphs import Graph

if TYPE_CHECKING:
    from sim.config import ChurnSection


@dataclass(frozen=True)
class ChurnSetting:
    """What a churn kind may draw on: the config's [churn] table and the run around it."""

    section: ChurnSection
    peers: int
    horizon: float            # the run's duration in virtual seconds
    start: float              # [churn] start, or a third of the run
    end: float                # [churn] end, or two thirds of the run
    graph: Graph
    seed: int
    resolve: Callable[[str], Path]   # a path in the config, relative to the config file


def _sessions(s: ChurnSetting) -> list[ChurnEvent]:
    c = s.section
    return churn.sessions(s.peers, s.horizon, distribution=c.distribution, mean_session=c.mean_session,
                          shape=c.shape, mean_offline=c.mean_offline, crash_fraction=c.crash_fraction, seed=s.seed)


CHURN_KINDS: dict[str, Callable[[ChurnSetting], list[ChurnEvent]]] = {
    "none": lambda s: [],
    "sessions": _sessions,
    "mass": lambda s: churn.mass_event(s.peers, s.section.fraction, s.start, s.end, seed=s.seed),
    "leave_return": lambda s: churn.mass_event(s.peers, s.section.fraction, s.start, s.end, seed=s.seed,
                                               kind="leave"),
    "targeted": lambda s: churn.targeted_removal(s.graph, s.section.fraction, s.start, strategy=s.section.strategy,
                                                 seed=s.seed),
    "partition": lambda s: churn.partition(s.peers, s.start, s.end, groups=s.section.groups, seed=s.seed),
    "trace": lambda s: churn.read_trace(s.resolve(s.section.trace), s.peers),
}
