"""Argument checks with one voice: every bad value is refused with the allowed range or choices.

Layer: runtime (standard library only, so every layer can use it, services included).

    from labs.runtime import args
    n = args.whole("messages", n, 1, 100_000)        # "messages must be a whole number from 1 to 100000, got 0"
    t = args.seconds("timeout", t, 0, 600)           # "timeout must be a number of seconds from 0 to 600, got -1"
    p = args.number("error_rate", p, 0, 1, " (the fraction of calls to fail)")
    s = args.choice("stream", s, ("upstream", "downstream"))
    name = args.text("group", name)                   # a non-empty string, at most 200 characters

Each check returns the value (as the type it names) so a caller can check and use it in one line, and
raises ValueError, which is what a learner passing the wrong thing to a lesson function expects.
"""
from __future__ import annotations

import math
from typing import Any, Iterable


def whole(name: str, value: Any, low: int, high: int) -> int:
    """An int (not a bool) from `low` to `high` inclusive."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name} must be a whole number from {low} to {high}, got {value!r}")
    return value


def number(name: str, value: Any, low: float, high: float, unit: str = "") -> float:
    """A finite int or float from `low` to `high` inclusive; `unit` is said after the range."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not low <= value <= high:
        raise ValueError(f"{name} must be a number from {low:g} to {high:g}{unit}, got {value!r}")
    return float(value)


def seconds(name: str, value: Any, low: float = 0.0, high: float = 600.0) -> float:
    """A duration in seconds from `low` to `high` inclusive."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not low <= value <= high:
        raise ValueError(f"{name} must be a number of seconds from {low:g} to {high:g}, got {value!r}")
    return float(value)


def positive_seconds(name: str, value: Any, high: float = 600.0) -> float:
    """A duration above 0 and up to `high` seconds (a timeout of 0 would never wait)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not 0 < value <= high:
        raise ValueError(f"{name} must be a number of seconds above 0 and up to {high:g}, got {value!r}")
    return float(value)


def choice(name: str, value: Any, choices: Iterable[Any]) -> Any:
    """One of `choices`."""
    options = list(choices)
    if value not in options:
        raise ValueError(f"{name} must be one of {', '.join(map(str, options))}; got {value!r}")
    return value


def text(name: str, value: Any, longest: int = 200) -> str:
    """A non-empty string of at most `longest` characters."""
    if not isinstance(value, str) or not value or len(value) > longest:
        raise ValueError(f"{name} must be a non-empty string of at most {longest} characters, got {value!r}")
    return value
