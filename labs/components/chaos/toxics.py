"""Toxics: Toxiproxy's names and attributes, validated with messages that name the allowed range.

Shared by the `chaos` server (which applies them) and the notebook's client (which refuses bad
values before sending them), so both say the same thing. Stdlib only.
"""
from __future__ import annotations

from typing import Any

STREAMS = ("upstream", "downstream")

# type -> {attribute: (default, low, high, unit)}; high None means no upper bound.
TOXICS: dict[str, dict[str, tuple[float, float, float | None, str]]] = {
    "latency": {"latency": (0, 0, 60_000, "ms"), "jitter": (0, 0, 60_000, "ms")},
    "bandwidth": {"rate": (1, 1, 10_000_000, "KB/s")},
    "slow_close": {"delay": (0, 0, 600_000, "ms")},
    "timeout": {"timeout": (0, 0, 3_600_000, "ms")},
    "reset_peer": {"timeout": (0, 0, 3_600_000, "ms")},
    "slicer": {"average_size": (1, 1, 1 << 20, "bytes"), "size_variation": (0, 0, 1 << 20, "bytes"),
               "delay": (0, 0, 10_000_000, "us")},
    "limit_data": {"bytes": (0, 0, 1 << 50, "bytes")},
}


class BadToxic(ValueError):
    """An invalid toxic or proxy field; the message names the allowed values."""


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def _number(value: Any, what: str, low: float, high: float | None, unit: str) -> float:
    rng = f"{_fmt(low)}..{_fmt(high)} {unit}" if high is not None else f">= {_fmt(low)} {unit}"
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        raise BadToxic(f"{what} must be a number in {rng}, got {value!r}")
    if value < low or (high is not None and value > high):
        raise BadToxic(f"{what} must be in {rng}, got {value!r}")
    return int(value) if float(value).is_integer() else float(value)


def check_toxicity(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise BadToxic(f"toxicity must be a number in 0..1 (the share of connections affected), got {value!r}")
    return float(value)


def check_stream(value: Any) -> str:
    if value not in STREAMS:
        raise BadToxic(f"stream must be 'upstream' (client to server) or 'downstream' (server to client), "
                       f"got {value!r}")
    return value


def check_attributes(type_: Any, attributes: Any, base: dict | None = None) -> dict[str, float]:
    """The toxic's full attributes (defaults, then `base`, then `attributes`), validated."""
    if type_ not in TOXICS:
        raise BadToxic(f"unknown toxic type {type_!r}; types: {', '.join(TOXICS)}")
    if attributes is None:
        attributes = {}
    if not isinstance(attributes, dict):
        raise BadToxic(f"attributes must be an object, got {attributes!r}")
    spec = TOXICS[type_]
    unknown = set(attributes) - set(spec)
    if unknown:
        raise BadToxic(f"{type_} has no attribute {sorted(unknown)[0]!r}; attributes: {', '.join(spec)}")
    merged = {k: v[0] for k, v in spec.items()} | (base or {}) | attributes
    out = {k: _number(merged[k], f"{type_} toxic's {k}", *spec[k][1:]) for k in spec}
    if type_ == "slicer" and out["size_variation"] >= out["average_size"] and out["size_variation"]:
        raise BadToxic(f"slicer size_variation must be smaller than average_size ({out['average_size']}), "
                       f"got {out['size_variation']}")
    return out


def describe() -> str:
    """Every toxic with its attributes and ranges, one line each."""
    lines = []
    for type_, spec in TOXICS.items():
        parts = [f"{k}={_fmt(d)} ({_fmt(lo)}..{_fmt(hi)} {u})" if hi is not None else f"{k}={_fmt(d)} (>= {_fmt(lo)} {u})"
                 for k, (d, lo, hi, u) in spec.items()]
        lines.append(f"{type_}: {', '.join(parts)}")
    return "\n".join(lines)
