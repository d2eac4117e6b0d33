"""Metrics rows (the contract's `metrics.csv`) and the run summary (`summary.json`)."""

from __future__ import annotations

import csv
import json
import math
import os
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

COLUMNS = ["time", "round", "peer", "honest", "online", "accuracy", "loss", "bytes_sent", "bytes_received",
           "consensus_distance", "attack_success"]


class MetricsLog:
    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self.live: Path | None = None  # metrics.csv kept up to date as the run goes (`follow`)
        self._written = 0  # rows already in `live`

    def add(self, **row: Any) -> None:
        self.rows.append(row)

    def last_evaluation(self) -> list[dict[str, Any]]:
        """The rows of the newest evaluation: the run of equal times at the end (rows come in time
        order), found from the end, so the progress bar's frequent calls cost one evaluation each."""
        start = len(self.rows)
        while start > 0 and self.rows[start - 1]["time"] == self.rows[-1]["time"]:
            start -= 1
        return self.rows[start:]

    def honest_online_accuracy(self, rows: list[dict[str, Any]] | None = None) -> list[float]:
        rows = self.last_evaluation() if rows is None else rows
        return [r["accuracy"] for r in rows if r["honest"] and r["online"]]

    def write_csv(self, path: Path) -> None:
        """Every row, replacing `path` atomically: a reader following the file sees it whole or not at all."""
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "w", newline="", encoding="utf-8") as handle:
            _write_rows(handle, self.rows, header=True)
        os.replace(tmp, path)
        if path == self.live:
            self._written = len(self.rows)

    def follow(self, path: Path) -> None:
        """Keep `path` up to date while the run goes: the rows so far now, then each `flush` appends the
        new ones, so `loragossip dashboard` and `tail` can watch a running simulation."""
        self.live = path
        self.write_csv(path)

    def flush(self) -> None:
        """Append the rows added since the last flush to the followed file (the engines call it after
        each evaluation); nothing when no file is followed."""
        if self.live is None or self._written == len(self.rows):
            return
        with open(self.live, "a", newline="", encoding="utf-8") as handle:
            _write_rows(handle, self.rows[self._written:], header=False)
        self._written = len(self.rows)

    def summary(self) -> dict[str, Any]:
        final = self.last_evaluation()
        accuracy = self.honest_online_accuracy(final)
        success = [r["attack_success"] for r in final if r["honest"] and r["online"]
                   and not _nan(r.get("attack_success"))]
        return {
            "final_time": final[0]["time"] if final else 0.0,
            "final_honest_mean_accuracy": float(np.mean(accuracy)) if accuracy else float("nan"),
            "final_honest_min_accuracy": float(np.min(accuracy)) if accuracy else float("nan"),
            "final_honest_online_peers": len(accuracy),
            "attack_success_rate": float(np.mean(success)) if success else None,
            "total_bytes_sent": int(sum(r["bytes_sent"] for r in final)),
            "total_bytes_received": int(sum(r["bytes_received"] for r in final)),
        }


def _write_rows(handle: Any, rows: list[dict[str, Any]], *, header: bool) -> None:
    writer = csv.DictWriter(handle, fieldnames=COLUMNS, extrasaction="ignore")
    if header:
        writer.writeheader()
    writer.writerows({k: _fmt(row.get(k)) for k in COLUMNS} for row in rows)


def _nan(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _fmt(value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.6g}"
    return "" if value is None else value


def write_summary(path: Path, summary: dict[str, Any]) -> None:
    path.write_text(json.dumps(summary, indent=2, sort_keys=True, allow_nan=True) + "\n", encoding="utf-8")


def merge_statistics(sizes: Counter) -> dict[str, float | None]:
    """How much a merge averages, from the honest peers' aggregations by number of updates merged.

    `own_share_of_plain_mean` is E[1 / (1 + k)], the weight the own model keeps in a plain mean:
    it is what an attack has to outweigh (the sign flip's bound in `robust/attacks.py`), and push
    gossip with a small fanout raises it well above 1 / (1 + degree)."""
    merges = sum(sizes.values())
    if not merges:
        return {"updates_per_merge": None, "merges_with_no_update": None, "own_share_of_plain_mean": None}
    return {
        "updates_per_merge": round(sum(k * n for k, n in sizes.items()) / merges, 4),
        "merges_with_no_update": round(sizes.get(0, 0) / merges, 4),
        "own_share_of_plain_mean": round(sum(n / (1 + k) for k, n in sizes.items()) / merges, 4),
    }
