"""The `bandwidth` toxic: the stream is paced to `rate` KB/s.

    POST /proxies/users/toxics {"type": "bandwidth", "attributes": {"rate": 100}}
    proxy.add("bandwidth", rate=100)                     # 100 KB/s: 1 MB takes 10 s

One idea: pace the writes. Each chunk goes out in ~50 ms slices, each written when the slices
before it would have finished at `rate` (1 KB = 1000 bytes, as in Toxiproxy). The pace carries
over from chunk to chunk (per stream), so a burst does not get through faster.

Layer: components.
"""
from __future__ import annotations

import asyncio

from .base import Attr, Toxic


class Bandwidth(Toxic):
    type = "bandwidth"
    ATTRIBUTES = {"rate": Attr(1, 1, 10_000_000, "KB/s")}
    stage = 2  # after limit_data and slicer: it paces the pieces they let through

    async def send(self, pipe, data: bytes, write) -> None:
        rate = self.attributes["rate"]
        step = max(1, int(rate * 50))  # ~50 ms worth per write keeps the pace smooth
        loop = asyncio.get_running_loop()
        for i in range(0, len(data), step):
            piece = data[i:i + step]
            now = loop.time()
            # pipe.state[name]: when the bytes written so far are done at this rate
            done = max(now, pipe.state.get(self.name, 0.0)) + len(piece) / (rate * 1000.0)
            pipe.state[self.name] = done
            if done > now:
                await asyncio.sleep(done - now)
            await write(piece)
