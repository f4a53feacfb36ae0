"""The `reset_peer` toxic: the connection is reset (TCP RST, "connection reset by peer") after `timeout` ms.

    POST /proxies/users/toxics {"type": "reset_peer", "attributes": {"timeout": 0}, "toxicity": 0.3}
    proxy.add("reset_peer", timeout=0, toxicity=0.3)     # 30% of new connections reset at once

One idea: an abortive close. Both sockets are closed with SO_LINGER 0, so the kernel sends RST
and drops what is unsent; each client sees ECONNRESET, counted as `resets` in the proxy's stats.
The countdown starts when the toxic meets the connection (Toxiproxy's starts at the first chunk).

Layer: components.
"""
from __future__ import annotations

from .base import Attr, Toxic


class ResetPeer(Toxic):
    type = "reset_peer"
    ATTRIBUTES = {"timeout": Attr(0, 0, 3_600_000, "ms")}

    def timer(self) -> float | None:
        return self.attributes["timeout"] / 1000.0

    def fire(self, link) -> None:
        link.stats["resets"] += 1
        link.close(reset=True)
