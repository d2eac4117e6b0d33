"""Finished cells as tables: `sweep.csv` (a row per cell and seed) and `summary.md` (a row per
cell: mean ± std over seeds, with min and max, the best value per column in bold). Pure
functions of the rows, so both backends' outputs compare byte for byte."""

from __future__ import annotations

import csv
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sim.sweep.spec import Sweep, format_value


@dataclass(frozen=True)
class Figure:
    """A summary.json figure: its column label, which way is better (or neither), and its unit."""

    label: str
    better: str | None = None  # "high" | "low" | None
    scale: float = 1.0
    digits: int = 3
    unit: str = ""


FIGURES = {
    "final_honest_mean_accuracy": Figure("honest acc.", "high"),
    "final_honest_min_accuracy": Figure("min acc.", "high"),
    "attack_success_rate": Figure("attack success", "low"),
    "total_bytes_sent": Figure("bytes sent", "low", scale=1e-6, digits=1, unit=" MB"),
    "final_honest_online_peers": Figure("honest online", digits=1),
    "peer_rounds": Figure("peer-rounds", digits=0),
    "final_time": Figure("final time (s)", digits=1),
}
# The figures summary.md shows (the rest are in sweep.csv).
SUMMARY_FIGURES = ("final_honest_mean_accuracy", "final_honest_min_accuracy", "attack_success_rate",
                   "total_bytes_sent")


def cell_rows(sweep: Sweep, results: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per cell and seed in sweep order. `results` maps a cell key to {"status", "summary"
    or "error"}; a cell with no result yet is "pending"."""
    rows = []
    for cell in sweep.cells:
        result = results.get(cell.key, {"status": "pending"})
        summary = result.get("summary") or {}
        row: dict[str, Any] = {"cell": cell.key, "seed": cell.seed}
        row.update({key: value for key, value in cell.values})
        row["status"] = result["status"]
        row.update({name: summary.get(name) for name in FIGURES})
        row["error"] = result.get("error", "")
        rows.append(row)
    return rows


def write_csv(path: Path, sweep: Sweep, rows: Sequence[dict[str, Any]]) -> None:
    columns = ["cell", "seed", *sweep.axes, "status", *FIGURES, "error"]
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _csv_value(row[k]) for k in columns})


def _csv_value(value: Any) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, dict | bool):
        return format_value(value)
    return value


@dataclass(frozen=True)
class Spread:
    mean: float
    std: float
    low: float
    high: float
    n: int


def spread(values: Sequence[float]) -> Spread | None:
    """Mean, sample standard deviation (0 for one seed), min and max of the finite values."""
    finite = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    if not finite:
        return None
    std = statistics.stdev(finite) if len(finite) > 1 else 0.0
    return Spread(statistics.fmean(finite), std, min(finite), max(finite), len(finite))


def grouped(rows: Sequence[dict[str, Any]], keys: Sequence[str]) -> list[tuple[tuple[Any, ...], list[dict[str, Any]]]]:
    """Rows grouped by their values of `keys`, in order of first appearance. Values are compared
    by repr: they may be tables, and 1 == 1.0 == True would merge cells that differ."""
    groups: dict[str, tuple[tuple[Any, ...], list[dict[str, Any]]]] = {}
    for row in rows:
        values = tuple(row[key] for key in keys)
        groups.setdefault(repr(values), (values, []))[1].append(row)
    return list(groups.values())


def summary_markdown(sweep: Sweep, rows: Sequence[dict[str, Any]]) -> str:
    groups = grouped(rows, sweep.axes)  # one group per cell, its seeds inside
    figures = [name for name in SUMMARY_FIGURES if any(r["status"] == "done" and r[name] is not None for r in rows)]
    stats = [[spread([r[name] for r in group if r["status"] == "done"]) for name in figures] for _, group in groups]
    best = [_best(FIGURES[name], [s[i] for s in stats]) for i, name in enumerate(figures)]
    header = [*sweep.axes, "seeds", *(FIGURES[name].label + FIGURES[name].unit for name in figures)]
    lines = [f"# Sweep `{sweep.name}`", "",
             f"Base config `{sweep.base.name}`, seeds {list(sweep.seeds)}. Each cell: mean ± std over its "
             "finished seeds, then [min, max]; the best mean per column in bold.", "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for (values, group), row_stats in zip(groups, stats, strict=True):
        finished = sum(r["status"] == "done" for r in group)
        seeds = f"{finished}/{len(group)}" + (f" ({_failures(group)})" if finished < len(group) else "")
        cells = [format_value(v) for v in values]
        cells.append(seeds)
        for i, (name, s) in enumerate(zip(figures, row_stats, strict=True)):
            cells.append(_format_spread(FIGURES[name], s, bold=s is not None and best[i] == s.mean))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _failures(group: Sequence[dict[str, Any]]) -> str:
    counts: dict[str, int] = {}
    for row in group:
        if row["status"] != "done":
            counts[row["status"]] = counts.get(row["status"], 0) + 1
    return ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))


def _best(figure: Figure, spreads: Sequence[Spread | None]) -> float | None:
    means = [s.mean for s in spreads if s is not None]
    if figure.better is None or len(means) < 2:
        return None
    return max(means) if figure.better == "high" else min(means)


def _format_spread(figure: Figure, s: Spread | None, *, bold: bool) -> str:
    if s is None:
        return "-"
    f = figure.digits
    mean = f"{s.mean * figure.scale:.{f}f}"
    text = (f"**{mean}**" if bold else mean) + f" ± {s.std * figure.scale:.{f}f}"
    if s.n > 1:
        text += f" [{s.low * figure.scale:.{f}f}, {s.high * figure.scale:.{f}f}]"
    return text
