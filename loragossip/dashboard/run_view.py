"""A simulation run's folder as the dashboard's state: its `metrics.csv` (appended after every
evaluation while the run goes) as the charts of honest accuracy, loss, traffic, consensus and
attack success, and the newest evaluation and `summary.json` as tables.

Reads the CSV with the standard library only (no pandas, no torch), a few new rows per poll.
"""

from __future__ import annotations

import csv
import json
import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loragossip.dashboard.series import Series, chart, table
from loragossip.dashboard.tail import FileTail


@dataclass
class Evaluation:
    """The rows of one evaluation time, reduced to what the charts draw."""

    time: float
    rounds: list[int] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)  # honest, online
    adversary_accuracy: list[float] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    consensus: list[float] = field(default_factory=list)
    attack_success: list[float] = field(default_factory=list)
    honest: int = 0
    sent: float = 0.0  # bytes, honest peers
    received: float = 0.0

    def add(self, row: dict[str, str]) -> None:
        honest, online = row["honest"] == "1", row["online"] == "1"
        self.honest += honest
        if honest:
            self.sent += _number(row["bytes_sent"]) or 0.0
            self.received += _number(row["bytes_received"]) or 0.0
        if not online:
            return
        accuracy = _number(row["accuracy"])
        if not honest:
            _append(self.adversary_accuracy, accuracy)
            return
        self.rounds.append(int(_number(row["round"]) or 0))
        _append(self.accuracy, accuracy)
        _append(self.loss, _number(row["loss"]))
        _append(self.consensus, _number(row["consensus_distance"]))
        _append(self.attack_success, _number(row["attack_success"]))


class RunView:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.metrics = FileTail(directory / "metrics.csv")
        self.columns: list[str] | None = None
        self.evaluations: dict[float, Evaluation] = {}

    def snapshot(self) -> dict[str, Any]:
        lines = self.metrics.new_lines()
        if self.metrics.reset:  # rewritten whole (a resumed or repeated run): read it again
            self.columns, self.evaluations = None, {}
        for values in csv.reader(lines):
            if self.columns is None:
                self.columns = values
            elif len(values) == len(self.columns):
                row = dict(zip(self.columns, values, strict=True))
                time = _number(row["time"]) or 0.0
                self.evaluations.setdefault(time, Evaluation(time)).add(row)
        return self._render()

    def _render(self) -> dict[str, Any]:
        evaluations = [self.evaluations[t] for t in sorted(self.evaluations)]
        mean, low, high = Series("honest mean"), Series("honest min"), Series("honest max")
        adversaries, loss = Series("adversarial mean"), Series("honest mean")
        sent, received = Series("sent"), Series("received")
        consensus, success = Series("honest mean"), Series("honest mean")
        for e in evaluations:
            if e.accuracy:
                mean.add(e.time, statistics.fmean(e.accuracy))
                low.add(e.time, min(e.accuracy))
                high.add(e.time, max(e.accuracy))
            adversaries.add(e.time, _mean(e.adversary_accuracy))
            loss.add(e.time, _mean(e.loss))
            sent.add(e.time, e.sent / max(1, e.honest) / 1e6)
            received.add(e.time, e.received / max(1, e.honest) / 1e6)
            consensus.add(e.time, _mean(e.consensus))
            success.add(e.time, _mean(e.attack_success))
        charts = [chart("accuracy", "test accuracy (online peers)", [mean, low, high, adversaries],
                        y_range=(0.0, 1.0)),
                  chart("loss", "loss", [loss]),
                  chart("traffic", "MB per honest peer", [sent, received], "MB"),
                  chart("consensus", "consensus distance", [consensus])]
        if success.points:
            charts.append(chart("attack", "attack success", [success], y_range=(0.0, 1.0)))
        return {"kind": "run", "title": f"simulation {self.directory}", "status": self._status(evaluations),
                "x_label": "virtual time (s)", "charts": charts, "graph": None,
                "tables": [self._latest(evaluations), self._summary()]}

    def _status(self, evaluations: list[Evaluation]) -> str:
        summary_path, metrics_path = self.directory / "summary.json", self.directory / "metrics.csv"
        if not evaluations:
            return "waiting for the first evaluation in metrics.csv"
        finished = summary_path.exists() and summary_path.stat().st_mtime >= metrics_path.stat().st_mtime
        if not finished:
            return f"running · {len(evaluations)} evaluations so far"
        summary = _read_json(summary_path)
        if summary.get("interrupted"):
            return "interrupted" + (" (resumable: loragossip sim --resume DIR)" if summary.get("resumable") else "")
        return f"finished · {len(evaluations)} evaluations"

    @staticmethod
    def _latest(evaluations: list[Evaluation]) -> dict[str, Any]:
        if not evaluations:
            return table("newest evaluation", ("figure", "value"), [])
        e = evaluations[-1]
        figures = [("virtual time (s)", f"{e.time:g}"),
                   ("round (median honest)", str(int(statistics.median(e.rounds))) if e.rounds else "-"),
                   ("honest peers online", f"{len(e.accuracy)} of {e.honest}"),
                   ("honest mean accuracy", _fmt(_mean(e.accuracy))),
                   ("honest min accuracy", _fmt(min(e.accuracy) if e.accuracy else None)),
                   ("attack success", _fmt(_mean(e.attack_success))),
                   ("MB sent per honest peer", _fmt(e.sent / max(1, e.honest) / 1e6, 2))]
        return table("newest evaluation", ("figure", "value"), figures)

    def _summary(self) -> dict[str, Any]:
        summary = _read_json(self.directory / "summary.json")
        keys = ("final_honest_mean_accuracy", "final_honest_min_accuracy", "attack_success_rate",
                "total_bytes_sent", "wall_seconds", "interrupted")
        rows = [(k, _cell(summary[k])) for k in keys if k in summary]
        return table("summary.json", ("key", "value"), rows, empty="written when the run ends")


def _read_json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _append(values: list[float], value: float | None) -> None:
    if value is not None:
        values.append(value)


def _mean(values: list[float]) -> float | None:
    return statistics.fmean(values) if values else None


def _cell(value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return _fmt(value)
    return "-" if value is None else str(value)


def _fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"
