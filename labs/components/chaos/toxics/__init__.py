"""Toxics: Toxiproxy's names and attributes, one module per type, and the registry that finds them.

    from labs.components.chaos.toxics import TOXICS, BadToxic, build, check_attributes
    check_attributes("latency", {"latency": 50})     # {"latency": 50, "jitter": 0}
    check_attributes("latency", {"latency": -5})     # BadToxic: ... must be in 0..60000 ms, got -5
    TOXICS["bandwidth"]["rate"]                      # Attr(default=1, low=1, high=10000000, unit='KB/s')
    toxic = build("latency", "slow", "downstream", 1.0, {"latency": 50})   # what a proxy holds
    print(describe())                                # every type with its attributes and ranges

One idea: the registry. Each toxic's behaviour and attribute table live in its own module
(latency.py, bandwidth.py, ...; the shared hooks in base.py); this module lists them and checks
the fields every toxic has (stream, toxicity). Shared by the `chaos` server (which applies them)
and the notebook's client and widgets (which refuse bad values before sending them), so both say
the same thing. Stdlib only.

Layer: components.
"""
from __future__ import annotations

from typing import Any

from .bandwidth import Bandwidth
from .base import STREAMS, Attr, BadToxic, LinkClosed, Toxic, fmt
from .latency import Latency
from .limit_data import LimitData
from .reset_peer import ResetPeer
from .slicer import Slicer
from .slow_close import SlowClose
from .timeout import Timeout

__all__ = ["REGISTRY", "STREAMS", "TOXICS", "Attr", "BadToxic", "LinkClosed", "Toxic", "build",
           "check_attributes", "check_stream", "check_toxicity", "describe"]

# type -> class, in the order error messages list them (Toxiproxy's README order).
REGISTRY: dict[str, type[Toxic]] = {cls.type: cls for cls in
                                    (Latency, Bandwidth, SlowClose, Timeout, ResetPeer, Slicer, LimitData)}

# type -> {attribute: (default, low, high, unit)}; high None means no upper bound.
TOXICS: dict[str, dict[str, Attr]] = {type_: dict(cls.ATTRIBUTES) for type_, cls in REGISTRY.items()}


def toxic_class(type_: Any) -> type[Toxic]:
    try:
        return REGISTRY[type_]
    except (KeyError, TypeError):  # TypeError: an unhashable type such as a list
        raise BadToxic(f"unknown toxic type {type_!r}; types: {', '.join(REGISTRY)}") from None


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
    return toxic_class(type_).check_attributes(attributes, base)


def build(type_: Any, name: str, stream: str, toxicity: float, attributes: dict) -> Toxic:
    """A toxic of `type_` (fields already checked)."""
    return toxic_class(type_)(name, stream, toxicity, attributes)


def describe() -> str:
    """Every toxic with its attributes and ranges, one line each."""
    lines = []
    for type_, spec in TOXICS.items():
        parts = [f"{k}={fmt(d)} ({fmt(lo)}..{fmt(hi)} {u})" if hi is not None else f"{k}={fmt(d)} (>= {fmt(lo)} {u})"
                 for k, (d, lo, hi, u) in spec.items()]
        lines.append(f"{type_}: {', '.join(parts)}")
    return "\n".join(lines)
