"""The `slow_close` toxic: the end of the stream (the FIN) is passed on `delay` ms late.

    POST /proxies/users/toxics {"type": "slow_close", "attributes": {"delay": 500}}
    proxy.add("slow_close", delay=500)

One idea: data flows as before; only the close waits, so a peer that waits for the other side to
hang up (an HTTP/1.0 response read to EOF, a graceful shutdown) waits that much longer.

Layer: components.
"""
from __future__ import annotations

from .base import Attr, Toxic


class SlowClose(Toxic):
    type = "slow_close"
    ATTRIBUTES = {"delay": Attr(0, 0, 600_000, "ms")}

    def close_delay(self) -> float:
        return self.attributes["delay"] / 1000.0
