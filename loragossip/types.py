"""argparse types for numbers that must be finite and in range (`float("nan")` parses, and
NaN passes every `<=` check, so a plain `type=float` lets it through to where it does harm), and
for lists of seeds."""

from __future__ import annotations

import argparse
import math


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def positive(text: str) -> float:
    value = _number(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return value


def non_negative(text: str) -> float:
    value = _number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}")
    return value


def _integer(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None


def port(text: str) -> int:
    value = _integer(text, "a port number")
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port in 0..65535 (0: any free one), got {value}")
    return value


def at_least_one(text: str) -> int:
    value = _integer(text, "a whole number")
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {value}")
    return value


def non_negative_int(text: str) -> int:
    value = _integer(text, "a whole number")
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {value}")
    return value


def seed_list(text: str) -> list[int]:
    """Seeds as people type them: `1,5,9`, a range `21-28` (both ends included), or both mixed."""
    seeds: list[int] = []
    for part in text.split(","):
        first, dash, last = part.strip().partition("-")
        start = _integer(first, "seeds such as 21-28 or 1,5,9")
        end = _integer(last, "seeds such as 21-28 or 1,5,9") if dash else start
        if end < start:
            raise argparse.ArgumentTypeError(f"seed range {part.strip()!r} runs backwards")
        seeds.extend(range(start, end + 1))
    if len(set(seeds)) < len(seeds):
        raise argparse.ArgumentTypeError(f"seeds {text!r} repeat a seed")
    return seeds
