"""The `timeout` toxic: nothing gets through, and the connection closes after `timeout` ms.

    POST /proxies/users/toxics {"type": "timeout", "attributes": {"timeout": 2000}}
    proxy.add("timeout", timeout=0)                      # 0: a black hole until the toxic goes

One idea: a peer that stops answering. While the toxic applies, the stream's data waits (held,
not lost: remove the toxic and it arrives); with `timeout` > 0 the connection closes (FIN) that
many ms after the toxic met it, counted in the proxy's stats as `timeouts`.
Toxiproxy drops the data instead and restarts the countdown on each chunk.

Layer: components.
"""
from __future__ import annotations

from .base import Attr, Toxic


class Timeout(Toxic):
    type = "timeout"
    ATTRIBUTES = {"timeout": Attr(0, 0, 3_600_000, "ms")}
    holds = True

    def timer(self) -> float | None:
        return self.attributes["timeout"] / 1000.0 if self.attributes["timeout"] > 0 else None

    def fire(self, link) -> None:
        link.stats["timeouts"] += 1
        link.close()
