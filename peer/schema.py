"""Validation of TOML tables against dataclass sections, with errors that name the key.

Shared by the genesis and the simulator config: each section is a frozen dataclass whose
defaults give the types; `choices` and `ranges` add allowed values. An error always says
`section.key: what was expected, what was found`.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Collection, Iterable
from dataclasses import fields
from typing import Any


class SchemaError(ValueError):
    """A table is missing, malformed, or has fields outside their allowed values. It carries every
    problem found, not only the first, so one run of a config shows all its typos; they print
    as one line."""

    def __init__(self, *problems: str) -> None:
        super().__init__(*problems)
        self.problems: tuple[str, ...] = problems

    def __str__(self) -> str:
        if len(self.problems) == 1:
            return self.problems[0]
        return f"{len(self.problems)} problems: " + " · ".join(self.problems)


def did_you_mean(given: Iterable[Any], known: Collection[Any]) -> str:
    """`" (did you mean 'duration'?)"` for the closest known names to misspelt ones, or "": a typo
    is the usual reason a key is unknown, and a list of thirty keys hides the one meant."""
    names = [str(k) for k in known]
    close = [m for g in given for m in difflib.get_close_matches(str(g), names, n=1, cutoff=0.6)]
    return f" (did you mean {', '.join(repr(m) for m in dict.fromkeys(close))}?)" if close else ""


def unknown_keys(given: Iterable[str], known: Collection[str]) -> str:
    """`unknown key(s) ['durtion'] (did you mean 'duration'?); expected some of [...]`, for any table."""
    names = sorted(given)
    return f"unknown key(s) {names}{did_you_mean(names, known)}; expected some of {list(known)}"


def coerce(where: str, value: Any, default: Any) -> Any:
    """Check `value` against the type of the field's default, converting int -> float where a float is due."""
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise SchemaError(f"{where}: expected true or false, got {value!r}")
        return value
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise SchemaError(f"{where}: expected an integer, got {value!r}")
        return value
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise SchemaError(f"{where}: expected a number, got {value!r}")
        if not math.isfinite(value):
            raise SchemaError(f"{where}: expected a finite number, got {value!r}")
        return float(value)
    if isinstance(default, str):
        if not isinstance(value, str):
            raise SchemaError(f"{where}: expected a string, got {value!r}")
        return value
    if isinstance(default, tuple):
        if not isinstance(value, list | tuple):
            raise SchemaError(f"{where}: expected a list, got {value!r}")
        return tuple(value)
    if isinstance(default, dict):
        if not isinstance(value, dict):
            raise SchemaError(f"{where}: expected a table, got {value!r}")
        return flat_params(where, value)
    raise AssertionError(f"no coercion for {where}")  # pragma: no cover - a programming error


def flat_params(where: str, params: dict[str, Any]) -> dict[str, Any]:
    """A flat table of numbers, booleans and strings (rule or attack parameters)."""
    for key, value in params.items():
        if not isinstance(value, bool | int | float | str):
            raise SchemaError(f"{where}.{key}: expected a number, boolean or string, got {value!r}")
        if isinstance(value, float) and not math.isfinite(value):
            raise SchemaError(f"{where}.{key}: expected a finite number, got {value!r}")
    return dict(params)


def parse_section(name: str, given: Any, cls: type, choices: dict[tuple[str, str], tuple],
                  ranges: dict[tuple[str, str], tuple[float | None, float | None]]) -> Any:
    """One section: unknown keys, types, choices and ranges checked; defaults fill the rest."""
    if not isinstance(given, dict):
        raise SchemaError(f"[{name}]: expected a table, got {given!r}")
    defaults = cls()
    known = [f.name for f in fields(cls)]
    extra = set(given) - set(known)
    problems = []
    if extra:
        problems.append(f"[{name}]: {unknown_keys(extra, sorted(known))}")
    values = {}
    for key in known:
        try:
            values[key] = _field(name, key, given, getattr(defaults, key), choices, ranges)
        except SchemaError as exc:
            problems.extend(exc.problems)
    if problems:
        raise SchemaError(*problems)
    return cls(**values)


def _field(name: str, key: str, given: dict[str, Any], default: Any, choices: dict[tuple[str, str], tuple],
           ranges: dict[tuple[str, str], tuple[float | None, float | None]]) -> Any:
    where = f"{name}.{key}"
    value = coerce(where, given[key], default) if key in given else default
    allowed = choices.get((name, key))
    if allowed is not None and value not in allowed:
        raise SchemaError(f"{where}: {value!r} is not one of {list(allowed)}{did_you_mean([value], allowed)}")
    if (name, key) in ranges:
        low, high = ranges[(name, key)]
        if (low is not None and value < low) or (high is not None and value > high):
            raise SchemaError(f"{where}: {value!r} is outside [{low}, {high}]")
    return value


def parse_sections(raw: Any, sections: dict[str, type], choices: dict[tuple[str, str], tuple],
                   ranges: dict[tuple[str, str], tuple[float | None, float | None]]) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise SchemaError("expected a table of sections")
    unknown = set(raw) - set(sections)
    if unknown:
        raise SchemaError(f"unknown section(s) {sorted(unknown)}{did_you_mean(sorted(unknown), sections)}; "
                          f"expected {sorted(sections)}")
    parsed, problems = {}, []
    for name, cls in sections.items():
        try:
            parsed[name] = parse_section(name, raw.get(name, {}), cls, choices, ranges)
        except SchemaError as exc:
            problems.extend(exc.problems)
    if problems:
        raise SchemaError(*problems)
    return parsed
