"""Metrics rows (the contract's `metrics.csv`) and the run summary (`summary.json`)."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

COLUMNS = ["time", "round", "peer", "honest", "online", "accuracy", "loss", "bytes_sent", "bytes_received",
           "consensus_distance", "attack_success"]


class MetricsLog:
    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

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
        with open(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=COLUMNS, extrasaction="ignore")
            writer.writeheader()
            for row in self.rows:
                writer.writerow({k: _fmt(row.get(k)) for k in COLUMNS})

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
