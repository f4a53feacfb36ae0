"""What every toxic shares: its fields, its attribute table, and the hooks a link's pipe calls.

    class Latency(Toxic):
        type = "latency"
        ATTRIBUTES = {"latency": Attr(0, 0, 60_000, "ms"), "jitter": Attr(0, 0, 60_000, "ms")}

        def delay(self, rng):                       # seconds each chunk waits
            return self.attributes["latency"] / 1000.0

    Latency.check_attributes({"latency": 50})       # {"latency": 50, "jitter": 0}, or BadToxic

One idea: a toxic type is its attribute table (default, range, unit; checked with messages that
name the range) plus the few hooks below, so its behaviour and its validation sit in one module,
as in Toxiproxy's toxics/*.go. The pipe in ../link.py calls the hooks; a toxic never owns a
socket. Stdlib only: the notebook's client imports the same tables to refuse bad values early.

Layer: components (the `chaos` server; also imported by labs.clients.chaos and labs.tools.widgets).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Awaitable, Callable, NamedTuple

if TYPE_CHECKING:  # only for annotations: link.py imports this module, not the other way round
    import random

    from ..link import Link, Pipe

STREAMS = ("upstream", "downstream")

Write = Callable[[bytes], Awaitable[None]]


class Attr(NamedTuple):
    """One attribute: its default, its range (high None: no upper bound) and its unit."""
    default: float
    low: float
    high: float | None
    unit: str


class BadToxic(ValueError):
    """An invalid toxic or proxy field; the message names the allowed values."""


class LinkClosed(Exception):
    """Raised by a toxic's send() to end the connection (limit_data)."""


def fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def number(value: Any, what: str, attr: Attr) -> float:
    """`value` as an int (or float) within `attr`'s range, else BadToxic naming the range."""
    low, high, unit = attr.low, attr.high, attr.unit
    rng = f"{fmt(low)}..{fmt(high)} {unit}" if high is not None else f">= {fmt(low)} {unit}"
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        raise BadToxic(f"{what} must be a number in {rng}, got {value!r}")
    if value < low or (high is not None and value > high):
        raise BadToxic(f"{what} must be in {rng}, got {value!r}")
    return int(value) if float(value).is_integer() else float(value)


class Toxic:
    """A toxic on one proxy: Toxiproxy's fields, and hooks that do nothing unless a type overrides them."""

    type: str = ""
    ATTRIBUTES: dict[str, Attr] = {}
    holds = False  # True: nothing passes the stream while the toxic applies (timeout)
    stage: int | None = None  # set: send() reshapes delivered data; lower stages run first

    def __init__(self, name: str, stream: str, toxicity: float, attributes: dict):
        self.name, self.stream, self.toxicity, self.attributes = name, stream, toxicity, attributes

    def to_json(self) -> dict:
        return {"name": self.name, "type": self.type, "stream": self.stream, "toxicity": self.toxicity,
                "attributes": dict(self.attributes)}

    # --- validation ----------------------------------------------------------------------------
    @classmethod
    def check_attributes(cls, attributes: Any, base: dict | None = None) -> dict[str, float]:
        """The full attributes (defaults, then `base`, then `attributes`), validated."""
        if attributes is None:
            attributes = {}
        if not isinstance(attributes, dict):
            raise BadToxic(f"attributes must be an object, got {attributes!r}")
        unknown = set(attributes) - set(cls.ATTRIBUTES)
        if unknown:
            raise BadToxic(f"{cls.type} has no attribute {sorted(unknown)[0]!r}; "
                           f"attributes: {', '.join(cls.ATTRIBUTES)}")
        merged = {k: a.default for k, a in cls.ATTRIBUTES.items()} | (base or {}) | attributes
        out = {k: number(merged[k], f"{cls.type} toxic's {k}", a) for k, a in cls.ATTRIBUTES.items()}
        cls.check(out)
        return out

    @classmethod
    def check(cls, attributes: dict[str, float]) -> None:
        """Rules across attributes (each is already in range); raise BadToxic to refuse."""

    # --- hooks the pipe calls --------------------------------------------------------------------
    def delay(self, rng: "random.Random") -> float:
        """Seconds each chunk of the stream waits before it is delivered."""
        return 0.0

    def close_delay(self) -> float:
        """Seconds the pipe waits before passing the end of the stream on."""
        return 0.0

    def timer(self) -> float | None:
        """Seconds after which fire() ends the connection (whichever stream), or None."""
        return None

    def fire(self, link: "Link") -> None:
        """The timer ran out."""

    async def send(self, pipe: "Pipe", data: bytes, write: Write) -> None:
        """Pass `data` on through `write` (the next stage), reshaped; only called when `stage` is set."""
        await write(data)
