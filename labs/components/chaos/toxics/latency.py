"""The `latency` toxic: every chunk of the stream arrives `latency` +/- `jitter` ms later.

    POST /proxies/users/toxics {"type": "latency", "attributes": {"latency": 100, "jitter": 10}}
    proxy.add("latency", latency=100, jitter=10)         # labs.chaos, the same toxic

One idea: a delay per chunk, not a slower stream. The pipe's delay line (../link.py) holds each
chunk until it is due while it goes on reading, so throughput stays what it was (as in Toxiproxy).
Jitter is drawn per chunk from the connection's random generator (seeded: the same draws again).

Layer: components.
"""
from __future__ import annotations

from .base import Attr, Toxic


class Latency(Toxic):
    type = "latency"
    ATTRIBUTES = {"latency": Attr(0, 0, 60_000, "ms"), "jitter": Attr(0, 0, 60_000, "ms")}

    def delay(self, rng) -> float:
        jitter = self.attributes["jitter"]
        ms = self.attributes["latency"] + (rng.uniform(-jitter, jitter) if jitter else 0)
        return max(0.0, ms) / 1000.0
