"""A sweep file: a base simulation config, seeds, and the axes that vary, expanded into cells.

    base = "../quickstart.toml"          # a `sim` config, relative to this file
    seeds = [1, 2, 3]
    [set]                                # fixed for every cell (optional)
    "run.duration" = 60.0
    [grid]                               # every combination of these values
    "genesis.aggregation.rule" = ["mean", "median"]
    [zip]                                # these move together: the i-th value of each key
    "attack.kind" = ["none", "label_flip"]
    "attack.params" = [{}, { boost = 10.0 }]
    [plot]                               # optional: what the sweep plot draws
    y = "final_honest_mean_accuracy"
    x = "genesis.aggregation.rule"
    lines = "attack.kind"

Keys are config keys in `--set` syntax; values are TOML values. Every cell (one point of the
grid × zip) is validated as an ordinary `sim` config before anything runs, so a bad value is a
one-line error naming its key, the same as `loragossip sim` gives.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from peer.schema import did_you_mean, unknown_keys
from sim.config import ConfigError, SimConfig, parse_assignment, parse_config, read_toml, set_value

TOP_LEVEL = ("name", "base", "seeds", "set", "grid", "zip", "plot")
PLOT_KEYS = ("x", "y", "lines")


@dataclass(frozen=True)
class Cell:
    """One point of the sweep for one seed: the swept values, validated, and its identity."""

    values: tuple[tuple[str, Any], ...]  # (config key, value) in axis order
    seed: int
    key: str                             # hash of the fully resolved config and the seed

    @property
    def label(self) -> str:
        return ", ".join(f"{k}={format_value(v)}" for k, v in self.values) or "base"


@dataclass(frozen=True)
class Sweep:
    name: str
    path: Path                           # the sweep file
    base: Path                           # the base sim config (absolute)
    seeds: tuple[int, ...]
    fixed: tuple[tuple[str, Any], ...]
    axes: tuple[str, ...]                # swept keys: grid keys, then zip keys
    zipped: tuple[str, ...]              # the [zip] keys, which move together
    cells: tuple[Cell, ...]
    plot: dict[str, str]

    def moving_with(self, key: str) -> tuple[str, ...]:
        """The swept keys whose values move with `key`: its [zip] group, or itself alone. A plot
        axis must tell cells apart by all of them (two zipped attacks can share a kind)."""
        return self.zipped if key in self.zipped else (key,)

    def assignments(self, cell: Cell) -> tuple[tuple[str, Any], ...]:
        """Everything a worker applies to the base config to rebuild this cell."""
        return (*self.fixed, *cell.values)


def format_value(value: Any) -> str:
    """A swept value as people write it: plain for scalars, TOML-like for tables."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {format_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def resolve_cell(base: Path, raw_base: dict[str, Any], assignments: tuple[tuple[str, Any], ...]) -> SimConfig:
    """The base config with the assignments applied, validated as `loragossip sim` validates."""
    raw = copy.deepcopy(raw_base)
    for key, value in assignments:
        set_value(raw, key, copy.deepcopy(value), where=f"{key!r}")
    return parse_config(raw, base.parent)


def config_key(config: SimConfig, seed: int) -> str:
    """A cell's identity: its full resolved config (defaults filled in) and seed. `run.name` is left
    out, so relabelling a sweep does not rerun it; any value that changes the run changes the key."""
    resolved = config.to_dict()
    resolved["run"] = {k: v for k, v in resolved["run"].items() if k not in ("name", "seed")}
    resolved["run"]["engine"] = config.engine()  # what "auto" takes (it took the nodes engine for async runs once)
    text = json.dumps({"config": resolved, "seed": seed}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def load_sweep(path: str | Path, overrides: list[str] | tuple[str, ...] = (),
               seeds: list[int] | tuple[int, ...] | None = None) -> Sweep:
    """Read and validate a sweep file; every cell's config is built once here to catch errors early.
    `overrides` (`section.key=value`, as `loragossip sim --set`) join the file's [set], replacing a
    value it has there, and `seeds` replaces its seeds: the same sweep run another way (a validation
    split, another device count, held-out seeds for a setting picked on the file's own) without a
    second copy of the file."""
    path = Path(path)
    raw = read_toml(path, "sweep file")
    if seeds is not None:
        raw["seeds"] = list(seeds)
    try:
        for assignment in overrides:
            key, value = parse_assignment(assignment)
            swept = [table for table in ("grid", "zip") if key in _table(raw, table)]
            if swept:
                raise ConfigError(f"--set {key}: the sweep varies it in [{swept[0]}]; --set fixes a key it "
                                  "does not vary")
            raw["set"] = {**_table(raw, "set"), key: value}
        return _parse(raw, path)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from exc


def _parse(raw: dict[str, Any], path: Path) -> Sweep:
    unknown = set(raw) - set(TOP_LEVEL)
    if unknown:
        raise ConfigError(unknown_keys(unknown, TOP_LEVEL))
    if not isinstance(raw.get("base"), str) or not raw["base"]:
        raise ConfigError("base: expected the path of a sim config (relative to the sweep file)")
    base = (path.parent / raw["base"]).resolve()
    try:
        raw_base = read_toml(base, "base config")
    except ConfigError as exc:
        raise ConfigError(f"base: {exc}") from exc
    fixed = _table(raw, "set")
    grid = {key: _axis("grid", key, values) for key, values in _table(raw, "grid").items()}
    zipped = {key: _axis("zip", key, values) for key, values in _table(raw, "zip").items()}
    if "grid" in raw and not grid:
        raise ConfigError("[grid] is empty: give at least one key with a list of values, or leave it out")
    if "zip" in raw and not zipped:
        raise ConfigError("[zip] is empty: give at least two keys with lists of equal length, or leave it out")
    lengths = {len(v) for v in zipped.values()}
    if len(lengths) > 1:
        raise ConfigError(f"[zip]: every list must have the same length, got "
                          f"{ {k: len(v) for k, v in zipped.items()} }")
    axes = (*grid, *zipped)
    repeated = (set(grid) & set(zipped)) | ((set(grid) | set(zipped)) & set(fixed))
    if repeated:
        raise ConfigError(f"key(s) {sorted(repeated)} appear in more than one of [set], [grid], [zip]")
    if any(k in ("run.seed", "run.name") for k in (*axes, *fixed)):
        raise ConfigError("run.seed and run.name are set by the sweep: use seeds = [...] for seeds")
    seeds = _seeds(raw, raw_base)
    fixed_pairs = tuple(fixed.items())
    try:
        resolve_cell(base, raw_base, fixed_pairs)
    except ConfigError as exc:
        raise ConfigError(f"[set]: {exc}") from exc
    zip_rows = list(zip(*zipped.values(), strict=True)) if zipped else [()]
    # each grid value alone and each zip row (its values only make sense together) first, so an
    # error names the one bad value or row
    alone = [((key, value),) for key, values in grid.items() for value in values]
    alone += [tuple(zip(zipped, row, strict=True)) for row in zip_rows if row]
    for pairs in alone:
        try:
            resolve_cell(base, raw_base, (*fixed_pairs, *pairs))
        except ConfigError as exc:
            raise ConfigError(f"{', '.join(f'{k} = {format_value(v)}' for k, v in pairs)}: {exc}") from exc
    cells = []
    for grid_values in itertools.product(*grid.values()):
        for zip_values in zip_rows:
            values = (*zip(grid, grid_values, strict=True), *zip(zipped, zip_values, strict=True))
            try:
                config = resolve_cell(base, raw_base, (*fixed_pairs, *values))
            except ConfigError as exc:
                label = ", ".join(f"{k} = {format_value(v)}" for k, v in values)
                raise ConfigError(f"cell {label}: {exc}") from exc
            cells.extend(Cell(values, seed, config_key(config, seed)) for seed in seeds)
    duplicate_keys = len({c.key for c in cells}) < len(cells)
    if duplicate_keys:
        raise ConfigError("two cells resolve to the same config and seed (a swept value equal to the default?)")
    name = raw.get("name", path.stem)
    if not isinstance(name, str) or not name:
        raise ConfigError(f"name: expected a string, got {name!r}")
    return Sweep(name=name, path=path, base=base, seeds=seeds, fixed=fixed_pairs, axes=tuple(axes),
                 zipped=tuple(zipped), cells=tuple(cells), plot=_plot(raw, axes, tuple(zipped)))


def _table(raw: dict[str, Any], name: str) -> dict[str, Any]:
    table = raw.get(name, {})
    if not isinstance(table, dict):
        raise ConfigError(f"[{name}]: expected a table of \"section.key\" = value, got {table!r}")
    return table


def _axis(table: str, key: str, values: Any) -> list[Any]:
    if not isinstance(values, list):
        raise ConfigError(f"{table}.{key!r}: expected a list of values, got {values!r}")
    if not values:
        raise ConfigError(f"{table}.{key!r}: the list of values is empty")
    return values


def _seeds(raw: dict[str, Any], raw_base: dict[str, Any]) -> tuple[int, ...]:
    if "seeds" not in raw:
        return (int(raw_base.get("run", {}).get("seed", 0)),)
    seeds = raw["seeds"]
    if not isinstance(seeds, list) or not seeds or not all(isinstance(s, int) and not isinstance(s, bool)
                                                           for s in seeds):
        raise ConfigError(f"seeds: expected a non-empty list of integers, got {seeds!r}")
    if len(set(seeds)) < len(seeds):
        raise ConfigError(f"seeds: {seeds} repeats a seed")
    return tuple(seeds)


def _plot(raw: dict[str, Any], axes: tuple[str, ...], zipped: tuple[str, ...]) -> dict[str, str]:
    """The plot's y figure, x axis and line key, defaulting to accuracy over the first axis and a
    line per value of the next axis that does not move with it."""
    from sim.sweep.table import FIGURES

    given = _table(raw, "plot")
    unknown = set(given) - set(PLOT_KEYS)
    if unknown:
        raise ConfigError(f"[plot]: {unknown_keys(unknown, PLOT_KEYS)}")
    plot = {"y": given.get("y", "final_honest_mean_accuracy")}
    if plot["y"] not in FIGURES:
        raise ConfigError(f"plot.y: {plot['y']!r} is not one of {list(FIGURES)}{did_you_mean([plot['y']], FIGURES)}")
    x = given.get("x", axes[0] if axes else None)
    with_x = zipped if x in zipped else (x,)
    lines = given.get("lines", next((a for a in axes if a not in with_x), None))
    for name, value in (("x", x), ("lines", lines)):
        if value is not None and value not in axes:
            raise ConfigError(f"plot.{name}: {value!r} is not a swept key; swept: {list(axes)}")
        if value is not None:
            plot[name] = value
    if x is not None and lines in with_x:
        raise ConfigError("plot.x and plot.lines must be swept keys that move apart (not one [zip] group)")
    return plot
