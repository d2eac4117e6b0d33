"""`sweep.png`: one figure against one swept key, a line per value of a second key, the band
mean ± std over seeds (matplotlib, headless)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from sim.sweep.spec import Sweep, format_value
from sim.sweep.table import FIGURES, spread


def plot_sweep(sweep: Sweep, rows: Sequence[dict[str, Any]], out: Path) -> Path | None:
    """None when there is nothing to draw (no swept key, or no finished cell)."""
    x_key, line_key, y_key = sweep.plot.get("x"), sweep.plot.get("lines"), sweep.plot["y"]
    done = [r for r in rows if r["status"] == "done" and r[y_key] is not None]
    if x_key is None or not done:
        return None
    xs = _unique(r[x_key] for r in rows)
    numeric = all(isinstance(x, int | float) and not isinstance(x, bool) for x in xs)
    position = {repr(x): (float(x) if numeric else i) for i, x in enumerate(xs)}
    lines = _unique(r[line_key] for r in rows) if line_key else [None]
    figure = FIGURES[y_key]
    fig, ax = plt.subplots(figsize=(8, 5))
    colors = plt.get_cmap("tab10")
    for i, line in enumerate(lines):
        points = []
        for x in xs:
            s = spread([r[y_key] for r in done if repr(r[x_key]) == repr(x)
                        and (line_key is None or repr(r[line_key]) == repr(line))])
            if s is not None:
                points.append((position[repr(x)], s.mean * figure.scale, s.std * figure.scale))
        if not points:
            continue
        px, mean, std = zip(*points, strict=True)
        label = f"{line_key} = {format_value(line)}" if line_key else None
        ax.plot(px, mean, marker="o", color=colors(i % 10), label=label)
        ax.fill_between(px, [m - s for m, s in zip(mean, std, strict=True)],
                        [m + s for m, s in zip(mean, std, strict=True)], color=colors(i % 10), alpha=0.18)
    if not numeric:
        ax.set_xticks(range(len(xs)), [format_value(x) for x in xs], rotation=20 if len(xs) > 4 else 0)
    ax.set(xlabel=x_key, ylabel=figure.label + figure.unit,
           title=f"{sweep.name}: mean ± std over seeds {list(sweep.seeds)}")
    if y_key.endswith("accuracy") or y_key == "attack_success_rate":
        ax.set_ylim(0, 1)
    if line_key:
        ax.legend(loc="best", fontsize="small")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path = out / "sweep.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _unique(values: Any) -> list[Any]:
    seen: dict[str, Any] = {}
    for value in values:
        seen.setdefault(repr(value), value)
    return list(seen.values())
