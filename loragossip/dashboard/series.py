"""A chart line that stays small however long the network runs."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

MAX_POINTS = 1200


@dataclass
class Series:
    """Points `(x, y)` in order of x. Past `limit` points every second one is dropped (the newest is
    kept), so a day-long testnet costs the page what a short one does, at a coarser grain."""

    name: str
    limit: int = MAX_POINTS
    points: list[tuple[float, float]] = field(default_factory=list)

    def add(self, x: float, y: float | None) -> None:
        if y is None or not math.isfinite(y):
            return
        self.points.append((round(x, 3), round(y, 6)))
        if len(self.points) > self.limit:
            newest = self.points[-1]
            self.points = [*self.points[:-1:2], newest]

    def as_json(self) -> dict[str, object]:
        return {"name": self.name, "points": self.points}


def chart(key: str, title: str, series: list[Series], y_label: str = "",
          y_range: tuple[float, float] | None = None) -> dict[str, object]:
    """One chart of the page: lines that have at least one point; `y_range` fixes the axis (accuracy's
    0 to 1), otherwise it follows the data."""
    return {"id": key, "title": title, "y_label": y_label, "y_range": y_range,
            "series": [s.as_json() for s in series if s.points]}


def table(title: str, columns: list[str] | tuple[str, ...], rows: list[list[str]] | list[tuple[str, ...]],
          empty: str = "none") -> dict[str, object]:
    return {"title": title, "columns": list(columns), "rows": [list(r) for r in rows], "empty": empty}
