"""Graph generators returning a light, immutable adjacency structure.

`Graph.neighbours(i)` is an O(1) lookup of a tuple; the simulator asks it every round for
every peer. networkx builds the random families; everything is seeded.
"""

from __future__ import annotations

import csv
import inspect
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import networkx as nx
import numpy as np


class GraphError(ValueError):
    """A graph cannot be built as asked (bad parameters, disconnected, malformed file)."""


@dataclass(frozen=True)
class Graph:
    name: str
    adjacency: tuple[tuple[int, ...], ...]

    @property
    def n(self) -> int:
        return len(self.adjacency)

    def neighbours(self, node: int) -> tuple[int, ...]:
        return self.adjacency[node]

    def degree(self, node: int) -> int:
        return len(self.adjacency[node])

    def degrees(self) -> np.ndarray:
        return np.fromiter((len(a) for a in self.adjacency), dtype=np.int64, count=self.n)

    def edges(self) -> list[tuple[int, int]]:
        return [(i, j) for i, nbrs in enumerate(self.adjacency) for j in nbrs if i < j]

    def is_connected(self) -> bool:
        return self.n > 0 and nx.is_connected(self.to_networkx())

    def to_networkx(self) -> nx.Graph:
        g = nx.Graph()
        g.add_nodes_from(range(self.n))
        g.add_edges_from(self.edges())
        return g

    @classmethod
    def from_edges(cls, name: str, n: int, edges: Iterable[tuple[int, int]]) -> Graph:
        sets: list[set[int]] = [set() for _ in range(n)]
        for i, j in edges:
            if i == j:
                continue
            sets[i].add(j)
            sets[j].add(i)
        return cls(name, tuple(tuple(sorted(s)) for s in sets))

    @classmethod
    def from_networkx(cls, name: str, g: nx.Graph) -> Graph:
        return cls.from_edges(name, g.number_of_nodes(), g.edges())


def _check_n(n: int, minimum: int = 1) -> None:
    if n < minimum:
        raise GraphError(f"need at least {minimum} nodes, got {n}")


def ring(n: int) -> Graph:
    _check_n(n, 3)
    return Graph.from_edges(f"ring({n})", n, ((i, (i + 1) % n) for i in range(n)))


def torus(n: int) -> Graph:
    """2-D torus of side sqrt(n) (n must be a square >= 9)."""
    side = round(n ** 0.5)
    if side * side != n or side < 3:
        raise GraphError(f"a torus needs n = side² with side >= 3, got n = {n}")
    edges = [(r * side + c, r * side + (c + 1) % side) for r in range(side) for c in range(side)]
    edges += [(r * side + c, ((r + 1) % side) * side + c) for r in range(side) for c in range(side)]
    return Graph.from_edges(f"torus({side}x{side})", n, edges)


def complete(n: int) -> Graph:
    _check_n(n, 2)
    return Graph(f"complete({n})", tuple(tuple(j for j in range(n) if j != i) for i in range(n)))


def star(n: int) -> Graph:
    """Node 0 is the hub (the server of the centralised baseline)."""
    _check_n(n, 2)
    return Graph.from_edges(f"star({n})", n, ((0, i) for i in range(1, n)))


def regular(n: int, k: int, seed: int = 0) -> Graph:
    if not 0 < k < n or (n * k) % 2:
        raise GraphError(f"a random {k}-regular graph on {n} nodes needs 0 < k < n and n·k even")
    for attempt in range(20):
        g = nx.random_regular_graph(k, n, seed=seed + attempt)
        if nx.is_connected(g):
            return Graph.from_networkx(f"regular({n},k={k})", g)
    raise GraphError(f"no connected {k}-regular graph on {n} nodes in 20 tries; raise k")


def erdos_renyi(n: int, p: float, seed: int = 0) -> Graph:
    """G(n, p); rejected with a clear error when disconnected (p should exceed ln(n)/n)."""
    _check_n(n, 2)
    if not 0 < p <= 1:
        raise GraphError(f"p must be in (0, 1], got {p}")
    g = nx.fast_gnp_random_graph(n, p, seed=seed)
    if not nx.is_connected(g):
        raise GraphError(f"G({n}, {p}) with seed {seed} is disconnected; connectivity needs p > ln(n)/n "
                         f"= {np.log(n) / n:.4g}")
    return Graph.from_networkx(f"erdos_renyi({n},p={p})", g)


def watts_strogatz(n: int, k: int = 4, p: float = 0.1, seed: int = 0) -> Graph:
    if not 2 <= k < n:
        raise GraphError(f"watts_strogatz needs 2 <= k < n, got k = {k}, n = {n}")
    g = nx.connected_watts_strogatz_graph(n, k, p, tries=100, seed=seed)
    return Graph.from_networkx(f"watts_strogatz({n},k={k},p={p})", g)


def barabasi_albert(n: int, m: int = 2, seed: int = 0) -> Graph:
    if not 1 <= m < n:
        raise GraphError(f"barabasi_albert needs 1 <= m < n, got m = {m}, n = {n}")
    return Graph.from_networkx(f"barabasi_albert({n},m={m})", nx.barabasi_albert_graph(n, m, seed=seed))


def exponential(n: int) -> Graph:
    """Each node i linked to i ± 2^k mod n for 2^k < n (the exponential graph of SGP / Ying et al.)."""
    _check_n(n, 2)
    hops = [1 << k for k in range(max(1, (n - 1).bit_length())) if (1 << k) < n]
    return Graph.from_edges(f"exponential({n})", n, ((i, (i + h) % n) for i in range(n) for h in hops))


def from_file(path: str | Path) -> Graph:
    """An edge list (`i j` per line, `#` comments) or a CSV adjacency matrix (`.csv`)."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise GraphError(f"cannot read graph file {path}: {exc.strerror or exc}") from exc
    if path.suffix == ".csv":
        rows = [r for r in csv.reader(text.splitlines()) if r]
        try:
            matrix = np.array([[float(v) for v in r] for r in rows])
        except ValueError as exc:
            raise GraphError(f"{path}: non-numeric entry in the adjacency matrix: {exc}") from exc
        if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
            raise GraphError(f"{path}: the adjacency matrix must be square, got {matrix.shape}")
        ii, jj = np.nonzero(matrix)
        return Graph.from_edges(path.stem, matrix.shape[0], zip(ii.tolist(), jj.tolist(), strict=True))
    edges = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) != 2 or not all(p.isdigit() for p in parts):
            raise GraphError(f"{path}:{number}: expected two node numbers, got {line!r}")
        edges.append((int(parts[0]), int(parts[1])))
    n = 1 + max((max(e) for e in edges), default=-1)
    return Graph.from_edges(path.stem, n, edges)


GENERATORS: dict[str, Callable[..., Graph]] = {
    "ring": ring, "torus": torus, "complete": complete, "star": star, "regular": regular,
    "erdos_renyi": erdos_renyi, "watts_strogatz": watts_strogatz, "barabasi_albert": barabasi_albert,
    "exponential": exponential,
}


GRAPH_KINDS = (*GENERATORS, "file")
"""Every graph by name: the generators, and `file` (an edge list; see `from_file`)."""


def parameters_of(kind: str, given: dict[str, float]) -> dict[str, float]:
    """The entries of `given` that generator `kind` takes (a ring takes none, `regular` takes k)."""
    taken = inspect.signature(GENERATORS[kind]).parameters if kind in GENERATORS else {}
    return {name: value for name, value in given.items() if name in taken and name not in ("n", "seed")}


def build(kind: str, n: int, seed: int = 0, **params: float) -> Graph:
    """A graph by name (`GENERATORS`, or `file` with `path`), with a clear error for bad names."""
    if kind == "file":
        return from_file(str(params["path"]))
    if kind not in GENERATORS:
        raise GraphError(f"unknown graph {kind!r}; expected one of {sorted([*GENERATORS, 'file'])}")
    fn = GENERATORS[kind]
    kwargs = dict(params)
    if "seed" in inspect.signature(fn).parameters:  # as `parameters_of` reads it
        kwargs["seed"] = seed
    try:
        return fn(n, **kwargs)
    except TypeError as exc:
        raise GraphError(f"bad parameters for graph {kind!r}: {exc}") from exc
