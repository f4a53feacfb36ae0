"""The `limit_data` toxic: the connection closes once `bytes` have passed on the stream.

    POST /proxies/users/toxics {"type": "limit_data", "attributes": {"bytes": 1000}}
    proxy.add("limit_data", bytes=1000)                  # a response cut off after 1000 bytes

One idea: a transfer that breaks part way. The bytes counted are all those the stream delivered
since the connection opened; the chunk that reaches the limit is cut to it, then the connection
closes (FIN) and the proxy's stats count it under `limited`.

Layer: components.
"""
from __future__ import annotations

from .base import Attr, LinkClosed, Toxic


class LimitData(Toxic):
    type = "limit_data"
    ATTRIBUTES = {"bytes": Attr(0, 0, 1 << 50, "bytes")}
    stage = 0  # first: the cut is made on whole chunks, before slicing or pacing

    async def send(self, pipe, data: bytes, write) -> None:
        limit = self.attributes["bytes"]
        if pipe.delivered + len(data) < limit:
            await write(data)
            return
        data = data[:max(0, limit - pipe.delivered)]
        if data:
            await write(data)
        pipe.link.stats["limited"] = pipe.link.stats.get("limited", 0) + 1
        raise LinkClosed()
