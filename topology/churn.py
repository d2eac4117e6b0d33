"""Churn: seeded streams of join / leave / crash / partition events, and trace replay.

Every generator is a pure function of its parameters and seed, returning events sorted by
time; `merge` combines several (sessions plus a mass event, say). Kinds:

- `join`, `leave` (graceful: a peer says goodbye and checkpoints), `crash` (silent);
- `partition` (the peer moves into network group `group`; only peers in the same group
  reach each other) and `heal` (back to group 0).
"""

from __future__ import annotations

import csv
import heapq
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from topology.graphs import Graph

KINDS = ("join", "leave", "crash", "partition", "heal")
DISTRIBUTIONS = ("exponential", "weibull", "pareto", "lognormal")


class ChurnError(ValueError):
    """Bad churn parameters or a malformed trace file (the message names the line)."""


@dataclass(frozen=True, order=True)
class ChurnEvent:
    time: float
    peer: int
    kind: str
    group: int = 0


def session_length_sampler(distribution: str, mean: float, shape: float, rng: np.random.Generator):
    """A sampler of session lengths with the given mean; `shape` is k (Weibull), α (Pareto) or σ (log-normal)."""
    if mean <= 0:
        raise ChurnError("mean session length must be > 0")
    if distribution == "exponential":
        return lambda: rng.exponential(mean)
    if distribution == "weibull":
        scale = mean / math.gamma(1 + 1 / shape)
        return lambda: scale * rng.weibull(shape)
    if distribution == "pareto":
        if shape <= 1:
            raise ChurnError("a Pareto session length with a finite mean needs alpha > 1")
        minimum = mean * (shape - 1) / shape
        return lambda: minimum * (1 + rng.pareto(shape))
    if distribution == "lognormal":
        mu = math.log(mean) - shape**2 / 2
        return lambda: rng.lognormal(mu, shape)
    raise ChurnError(f"unknown session distribution {distribution!r}; expected one of {list(DISTRIBUTIONS)}")


def sessions(n: int, horizon: float, *, distribution: str = "exponential", mean_session: float = 600.0,
             shape: float = 1.5, mean_offline: float = 300.0, crash_fraction: float = 0.5,
             online_at_start: float = 1.0, seed: int = 0) -> list[ChurnEvent]:
    """Each peer alternates online sessions (length from `distribution`) and offline gaps
    (exponential: returns form a Poisson process), until `horizon` seconds."""
    if not 0 <= crash_fraction <= 1 or not 0 <= online_at_start <= 1:
        raise ChurnError("crash_fraction and online_at_start must be in [0, 1]")
    rng = np.random.default_rng(seed)
    session = session_length_sampler(distribution, mean_session, shape, rng)
    events: list[ChurnEvent] = []
    for peer in range(n):
        online = rng.random() < online_at_start
        t = 0.0
        if not online:
            t = rng.exponential(mean_offline)
            events.append(ChurnEvent(t, peer, "join"))
        while t < horizon:
            t += session()
            if t >= horizon:
                break
            events.append(ChurnEvent(t, peer, "crash" if rng.random() < crash_fraction else "leave"))
            t += rng.exponential(mean_offline)
            if t >= horizon:
                break
            events.append(ChurnEvent(t, peer, "join"))
    return sorted(events)


def initially_offline(events: Iterable[ChurnEvent]) -> set[int]:
    """Peers whose first event is a join: they start offline."""
    first: dict[int, str] = {}
    for e in sorted(events):
        if e.kind in ("join", "leave", "crash"):
            first.setdefault(e.peer, e.kind)
    return {p for p, kind in first.items() if kind == "join"}


def mass_event(n: int, fraction: float, start: float, end: float, *, seed: int = 0,
               kind: str = "crash") -> list[ChurnEvent]:
    """`fraction` of the peers become unresponsive from `start` to `end` (MoDeST's 80 % event)."""
    if not 0 <= fraction <= 1 or not 0 <= start < end:
        raise ChurnError("mass event needs 0 <= fraction <= 1 and 0 <= start < end")
    chosen = np.random.default_rng(seed).choice(n, size=round(fraction * n), replace=False)
    return sorted([ChurnEvent(start, int(p), kind) for p in chosen] + [ChurnEvent(end, int(p), "join") for p in chosen])


def targeted_removal(graph: Graph, fraction: float, time: float, *, strategy: str = "degree",
                     seed: int = 0, until: float | None = None) -> list[ChurnEvent]:
    """Remove `fraction` of the peers at `time`: highest degree first, or uniformly at random."""
    count = round(fraction * graph.n)
    if strategy == "degree":
        order = np.lexsort((np.arange(graph.n), -graph.degrees()))[:count]
    elif strategy == "random":
        order = np.random.default_rng(seed).choice(graph.n, size=count, replace=False)
    else:
        raise ChurnError(f"unknown removal strategy {strategy!r}; expected 'degree' or 'random'")
    events = [ChurnEvent(time, int(p), "crash") for p in order]
    if until is not None:
        events += [ChurnEvent(until, int(p), "join") for p in order]
    return sorted(events)


def partition(n: int, start: float, end: float, *, groups: int = 2, seed: int = 0) -> list[ChurnEvent]:
    """Split the peers at random into `groups` that cannot reach each other from `start` to `end`."""
    if groups < 2 or not 0 <= start < end:
        raise ChurnError("a partition needs at least 2 groups and 0 <= start < end")
    assignment = np.random.default_rng(seed).integers(0, groups, size=n)
    return sorted([ChurnEvent(start, p, "partition", int(assignment[p])) for p in range(n)]
                  + [ChurnEvent(end, p, "heal") for p in range(n)])


def read_trace(path: str | Path, n: int | None = None) -> list[ChurnEvent]:
    """Replay a CSV trace with header `time,peer,event`; a bad row fails with its line number."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ChurnError(f"cannot read trace {path}: {exc.strerror or exc}") from exc
    reader = csv.reader(text.splitlines())
    header = next(reader, None)
    if header is None or [h.strip() for h in header] != ["time", "peer", "event"]:
        raise ChurnError(f"{path}:1: expected the header 'time,peer,event', got {header!r}")
    events = []
    for line, row in enumerate(reader, start=2):
        if not row:
            continue
        if len(row) != 3:
            raise ChurnError(f"{path}:{line}: expected 3 columns, got {len(row)}")
        time_text, peer_text, kind = (c.strip() for c in row)
        try:
            time, peer = float(time_text), int(peer_text)
        except ValueError:
            raise ChurnError(f"{path}:{line}: time must be a number and peer an integer, got {row!r}") from None
        if not math.isfinite(time) or time < 0:
            raise ChurnError(f"{path}:{line}: time must be finite and >= 0, got {time_text}")
        if peer < 0 or (n is not None and peer >= n):
            raise ChurnError(f"{path}:{line}: peer {peer} is outside [0, {n})")
        if kind not in ("join", "leave", "crash"):
            raise ChurnError(f"{path}:{line}: event {kind!r} is not join, leave or crash")
        events.append(ChurnEvent(time, peer, kind))
    return sorted(events)


def merge(*streams: Iterable[ChurnEvent]) -> list[ChurnEvent]:
    return list(heapq.merge(*(sorted(s) for s in streams)))
