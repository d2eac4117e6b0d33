import numpy as np
import pytest

from topology import churn, graphs
from topology.churn import ChurnError
from topology.cyclon import CyclonView
from topology.live import LiveGraph


@pytest.mark.parametrize("distribution", churn.DISTRIBUTIONS)
def test_same_seed_same_stream_other_seed_other_stream(distribution):
    a = churn.sessions(50, 3600, distribution=distribution, seed=1, shape=2.0)
    b = churn.sessions(50, 3600, distribution=distribution, seed=1, shape=2.0)
    c = churn.sessions(50, 3600, distribution=distribution, seed=2, shape=2.0)
    assert a == b and a != c
    assert all(e.kind in ("join", "leave", "crash") for e in a)
    assert [e.time for e in a] == sorted(e.time for e in a)


@pytest.mark.parametrize(("distribution", "shape"), [("exponential", 1.0), ("weibull", 0.7), ("pareto", 2.5),
                                                     ("lognormal", 1.0)])
def test_session_lengths_have_the_asked_mean(distribution, shape):
    draw = churn.session_length_sampler(distribution, 100.0, shape, np.random.default_rng(0))
    samples = np.array([draw() for _ in range(40000)])
    assert samples.mean() == pytest.approx(100.0, rel=0.1)


def test_each_peer_alternates_between_online_and_offline():
    events = churn.sessions(20, 5000, mean_session=100, mean_offline=50, seed=3, online_at_start=0.5)
    offline = churn.initially_offline(events)
    state = {p: p not in offline for p in range(20)}
    for e in events:
        assert state[e.peer] == (e.kind != "join")
        state[e.peer] = e.kind == "join"


def test_mass_event_targeted_removal_and_partition():
    events = churn.mass_event(100, 0.8, 10, 20, seed=0)
    assert sum(e.kind == "crash" for e in events) == 80 and sum(e.kind == "join" for e in events) == 80
    star = graphs.star(10)
    removed = churn.targeted_removal(star, 0.1, 5.0)
    assert [e.peer for e in removed] == [0]  # the hub goes first
    split = churn.partition(10, 1, 2, groups=2, seed=0)
    assert {e.kind for e in split} == {"partition", "heal"}
    merged = churn.merge(events, removed, split)
    assert [e.time for e in merged] == sorted(e.time for e in merged)


def test_trace_replay_and_line_numbers(tmp_path):
    good = tmp_path / "t.csv"
    good.write_text("time,peer,event\n5,1,leave\n1.5,0,crash\n9,1,join\n")
    assert [e.kind for e in churn.read_trace(good)] == ["crash", "leave", "join"]
    for body, line in [("time,peer,event\n1,0,join\n2,x,leave\n", 3), ("time,peer,event\n1,0,explode\n", 2),
                       ("t,p,e\n", 1), ("time,peer,event\n-1,0,join\n", 2), ("time,peer,event\n1,0\n", 2)]:
        bad = tmp_path / "bad.csv"
        bad.write_text(body)
        with pytest.raises(ChurnError, match=rf"bad.csv:{line}:"):
            churn.read_trace(bad)
    with pytest.raises(ChurnError, match="outside"):
        churn.read_trace(good, n=1)


def test_live_graph_repairs_or_stays_broken():
    base = graphs.ring(10)
    repaired = LiveGraph(base, repair=True, target_degree=2, seed=0)
    broken = LiveGraph(base, repair=False)
    for live in (repaired, broken):
        live.leave(1)
        live.leave(3)
    assert len(repaired.neighbours(2)) >= 2 and not {1, 3} & set(repaired.neighbours(2))
    assert all(len(repaired.neighbours(p)) >= 2 for p in repaired.online)
    assert broken.neighbours(2) == []
    broken.join(1)
    assert broken.neighbours(2) == [1]
    repaired.set_group(0, 1)
    assert not repaired.reachable(0, 2)


def _cycle(views, online, rng):
    for i in rng.permutation(sorted(online)):
        target, sent = views[i].start_shuffle()
        if target is None or target not in online:
            continue  # a departed peer never answers; its entry is already gone from i's view
        views[i].finish_shuffle(sent, views[target].answer_shuffle(i, sent))


def _in_degrees(views, online):
    counts = dict.fromkeys(online, 0)
    for i in online:
        for p in views[i].entries:
            if p in counts:
                counts[p] += 1
    return np.array(list(counts.values()))


def test_cyclon_1000_peers_in_degree_band_and_forgetting():
    """Stated band: every online peer's in-degree within [c/2, 2c]; departed peers forgotten
    within 2c shuffle cycles (measured: in-degree 12..28 for c = 20, forgotten after 32 cycles)."""
    n, c = 1000, 20
    rng = np.random.default_rng(0)
    views = {i: CyclonView(i, c=c, l=8, rng=np.random.default_rng(i)) for i in range(n)}
    for i in range(n):
        for j in rng.choice(n, c + 5, replace=False):
            views[i].add(int(j))
    online = set(range(n))
    for _ in range(30):
        _cycle(views, online, rng)
    degrees = _in_degrees(views, online)
    assert degrees.min() >= c // 2 and degrees.max() <= 2 * c
    departed = set(range(100))
    online -= departed
    cycles = 0
    while any(p in departed for i in online for p in views[i].entries):
        cycles += 1
        assert cycles <= 2 * c, f"departed peers still in views after {2 * c} cycles"
        _cycle(views, online, rng)
    degrees = _in_degrees(views, online)
    assert degrees.min() >= c // 2 and degrees.max() <= 2 * c
