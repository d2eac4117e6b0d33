"""`sweep.png`: one figure against one swept key, a line per value of a second key, the band
mean ± std over seeds (matplotlib, headless)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from sim.sweep.spec import Sweep, format_value
from sim.sweep.table import FIGURES, grouped, spread


@dataclass(frozen=True)
class Series:
    """What the plot draws: x tick labels (or numbers), and per line its points (x index, mean, std)."""

    x_label: str
    ticks: list[str]
    numeric: list[float] | None          # the x values when the axis is one numeric key
    lines: dict[str, list[tuple[int, float, float]]]


def series(sweep: Sweep, rows: Sequence[dict[str, Any]]) -> Series | None:
    """The plot's data: finished rows grouped by x and line and reduced to mean ± std. A key in
    [zip] is plotted with the keys that move with it, so two zipped cells that share one value
    (label_flip plain and boosted) stay two points. None when there is nothing to draw."""
    x_key, line_key, y_key = sweep.plot.get("x"), sweep.plot.get("lines"), sweep.plot["y"]
    done = [r for r in rows if r["status"] == "done" and r[y_key] is not None]
    if x_key is None or not done:
        return None
    x_keys = sweep.moving_with(x_key)
    line_keys = sweep.moving_with(line_key) if line_key else ()
    xs = [x for x, _ in grouped(rows, x_keys)]
    index = {repr(x): i for i, x in enumerate(xs)}
    lines: dict[str, list[tuple[int, float, float]]] = {}
    for line, line_rows in grouped(rows, line_keys):
        points = []
        for x, cell_rows in grouped(line_rows, x_keys):
            s = spread([r[y_key] for r in cell_rows if r["status"] == "done"])
            if s is not None:
                points.append((index[repr(x)], s.mean, s.std))
        if points:
            lines[f"{' / '.join(line_keys)} = {_label(line)}" if line_keys else ""] = sorted(points)
    numeric = len(x_keys) == 1 and all(isinstance(x, int | float) and not isinstance(x, bool) for (x,) in xs)
    return Series(" / ".join(x_keys), [_label(x) for x in xs], [float(x) for (x,) in xs] if numeric else None,
                  lines)


def plot_sweep(sweep: Sweep, rows: Sequence[dict[str, Any]], out: Path) -> Path | None:
    data = series(sweep, rows)
    if data is None:
        return None
    y_key = sweep.plot["y"]
    figure = FIGURES[y_key]
    fig, ax = plt.subplots(figsize=(8, 5))
    colors = plt.get_cmap("tab10")
    for i, (label, points) in enumerate(data.lines.items()):
        index, mean, std = zip(*points, strict=True)
        px = [data.numeric[j] for j in index] if data.numeric else list(index)
        low = [(m - s) * figure.scale for m, s in zip(mean, std, strict=True)]
        high = [(m + s) * figure.scale for m, s in zip(mean, std, strict=True)]
        ax.errorbar(px, [m * figure.scale for m in mean], yerr=[s * figure.scale for s in std], marker="o",
                    capsize=4, color=colors(i % 10), label=label or None)
        ax.fill_between(px, low, high, color=colors(i % 10), alpha=0.18)  # the band between points
    if data.numeric is None:
        ax.set_xticks(range(len(data.ticks)), data.ticks, rotation=20 if len(data.ticks) > 4 else 0)
    ax.set(xlabel=data.x_label, ylabel=figure.label + figure.unit,
           title=f"{sweep.name}: mean ± std over seeds {list(sweep.seeds)}")
    if y_key.endswith("accuracy") or y_key == "attack_success_rate":
        ax.set_ylim(0, 1)
    if any(data.lines):
        ax.legend(loc="best", fontsize="small")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path = out / "sweep.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _label(point: tuple[Any, ...]) -> str:
    return " / ".join(format_value(v) for v in point)

