"""A testnet directory as the dashboard's state: every peer's status now (the tables, the
neighbour graph, rejections and bans) and its history (accuracy, loss and traffic over time).

The history comes from the `round` lines of each peer's log, not from sampling the status, so it
goes back to the peer's first round whenever the dashboard is started and survives its restarts.
Reads only JSON (status over loopback HTTP, the logs): no torch, a poll costs milliseconds per peer.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loragossip.dashboard.series import Series, chart, table
from loragossip.dashboard.tail import FileTail
from peer.testnet import STATUS_COLUMNS, PeerProcess, Testnet, peer_status, status_cells

# the places a peer counts refusals, as named in its status: (status key, path inside it, label)
_REFUSALS = (("rejected", (), "node"), ("dropped", (), "transport"), ("admission", ("refused",), "admission"),
             ("broker_refused", (), "broker"))


@dataclass
class PeerHistory:
    """What one peer's past looks like on the charts, built up poll by poll."""

    name: str
    log: FileTail
    peer_id: str = ""
    accuracy: Series = field(init=False)
    loss: Series = field(init=False)
    sent: Series = field(init=False)
    received: Series = field(init=False)
    first_t: float | None = None

    def __post_init__(self) -> None:
        self.accuracy, self.loss = Series(self.name), Series(self.name)
        self.sent, self.received = Series(self.name), Series(self.name)

    def read_log(self) -> list[dict[str, Any]]:
        """The new `round` lines of the peer's log (other lines, and any that are not JSON, skipped)."""
        rounds = []
        for line in self.log.new_lines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if isinstance(entry, dict) and entry.get("msg") == "round" and isinstance(entry.get("t"), int | float):
                rounds.append(entry)
                self.first_t = entry["t"] if self.first_t is None else self.first_t
        return rounds


class TestnetView:
    __test__ = False  # not a pytest test class, despite the name

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.history: dict[str, PeerHistory] = {}
        self.t0: float | None = None  # x = 0 on every chart: the testnet's first logged round
        self._pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="dashboard-status")

    def snapshot(self) -> dict[str, Any]:
        testnet = Testnet.load(self.directory)
        now = time.time()
        rows = list(self._pool.map(peer_status, testnet.peers))
        new_rounds = {p.name: self._history(p).read_log() for p in testnet.peers}
        if self.t0 is None:
            self.t0 = min([now, *(h.first_t for h in self.history.values() if h.first_t is not None)])
        for name, rounds in new_rounds.items():
            history = self.history[name]
            for entry in rounds:
                x = entry["t"] - self.t0
                history.accuracy.add(x, _number(entry.get("accuracy")))
                history.loss.add(x, _number(entry.get("loss")))
                history.sent.add(x, _megabytes(entry.get("bytes_sent")))
                history.received.add(x, _megabytes(entry.get("bytes_received")))
        for peer, row in zip(testnet.peers, rows, strict=True):
            self.history[peer.name].peer_id = str(row.get("peer_id") or self.history[peer.name].peer_id)
        return self._render(testnet, rows)

    def _history(self, peer: PeerProcess) -> PeerHistory:
        if peer.name not in self.history:
            self.history[peer.name] = PeerHistory(peer.name, FileTail(Path(peer.log)))
        return self.history[peer.name]

    def _render(self, testnet: Testnet, rows: list[dict[str, Any]]) -> dict[str, Any]:
        up = sum(r["alive"] for r in rows)
        peers = [self.history[p.name] for p in testnet.peers]
        return {
            "kind": "testnet", "title": f"testnet {self.directory}",
            "status": f"{up} of {len(rows)} peers up · {testnet.transport} · bootstrap {testnet.bootstrap}",
            "x_label": "seconds since the testnet's first logged round",
            "charts": [chart("accuracy", "test accuracy", [h.accuracy for h in peers], y_range=(0.0, 1.0)),
                       chart("loss", "training loss", [h.loss for h in peers]),
                       chart("sent", "MB sent", [h.sent for h in peers], "MB"),
                       chart("received", "MB received", [h.received for h in peers], "MB")],
            "graph": self._graph(rows),
            "tables": [table("peers", STATUS_COLUMNS, [status_cells(r) for r in rows]),
                       table("rejected and refused, by reason", ("where", "reason", "count", "peers counting it"),
                             _refusal_rows(rows)),
                       table("bans in force", ("peer", "banned peer id"),
                             [(r["name"], str(b)) for r in rows for b in r.get("banned", [])]),
                       table("problems", ("peer", "problem"), _problem_rows(rows))],
        }

    def _graph(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        """Peers and who each one has as a neighbour; an id no peer of the directory has is a stranger
        (a peer that joined from elsewhere, or one that claims to be someone)."""
        nodes: dict[str, dict[str, str]] = {}
        for row in rows:
            key = self.history[row["name"]].peer_id or f"name:{row['name']}"
            nodes[key] = {"id": key, "label": row["name"], "state": "up" if row["alive"] else "down"}
        edges: set[tuple[str, str]] = set()
        for row in rows:
            mine = self.history[row["name"]].peer_id
            for other in row.get("neighbour_ids", []) if mine else []:
                other = str(other)
                nodes.setdefault(other, {"id": other, "label": "…" + other[-6:], "state": "stranger"})
                edges.add((min(mine, other), max(mine, other)))
        return {"nodes": list(nodes.values()), "edges": sorted(edges)}


def _number(value: Any) -> float | None:
    """A log field as a number; anything else (a peer's log is the peer's to write) as missing."""
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _megabytes(value: Any) -> float | None:
    number = _number(value)
    return None if number is None else number / 1e6


def _refusal_rows(rows: list[dict[str, Any]]) -> list[tuple[str, ...]]:
    counts: dict[tuple[str, str], tuple[int, int]] = {}
    for row in rows:
        for key, path, where in _REFUSALS:
            found: Any = row.get(key)
            for step in path:
                found = found.get(step) if isinstance(found, dict) else None
            for reason, count in (found or {}).items():
                total, peers = counts.get((where, reason), (0, 0))
                counts[(where, reason)] = (total + int(count), peers + 1)
    return [(where, reason, str(total), str(peers))
            for (where, reason), (total, peers) in sorted(counts.items(), key=lambda kv: -kv[1][0])]


def _problem_rows(rows: list[dict[str, Any]]) -> list[tuple[str, str]]:
    problems = []
    for row in rows:
        if not row["alive"]:
            problems.append((row["name"], f"process {row['pid']} is not running"))
        if "error" in row:
            problems.append((row["name"], row["error"]))
        reachability = row.get("reachability", "ok")
        for problem in ([] if reachability == "ok" else reachability if isinstance(reachability, list)
                        else [reachability]):
            problems.append((row["name"], str(problem)))
    return problems
