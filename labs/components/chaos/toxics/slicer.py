"""The `slicer` toxic: each chunk is cut into ~`average_size`-byte pieces sent `delay` us apart.

    POST /proxies/users/toxics {"type": "slicer",
                                "attributes": {"average_size": 10, "size_variation": 5, "delay": 100}}
    proxy.add("slicer", average_size=10, size_variation=5, delay=100)

One idea: the same bytes in many small TCP segments, to show that a reader must frame messages
itself (one send is not one recv). Sizes vary by up to +/- `size_variation` bytes, drawn from
the connection's random generator; `size_variation` must be smaller than `average_size`.

Layer: components.
"""
from __future__ import annotations

import asyncio

from .base import Attr, BadToxic, Toxic


class Slicer(Toxic):
    type = "slicer"
    ATTRIBUTES = {"average_size": Attr(1, 1, 1 << 20, "bytes"), "size_variation": Attr(0, 0, 1 << 20, "bytes"),
                  "delay": Attr(0, 0, 10_000_000, "us")}
    stage = 1  # after limit_data (which counts whole chunks), before bandwidth (which paces the pieces)

    @classmethod
    def check(cls, attributes: dict) -> None:
        if attributes["size_variation"] and attributes["size_variation"] >= attributes["average_size"]:
            raise BadToxic(f"slicer size_variation must be smaller than average_size "
                           f"({attributes['average_size']}), got {attributes['size_variation']}")

    async def send(self, pipe, data: bytes, write) -> None:
        avg, var, delay = (self.attributes[k] for k in ("average_size", "size_variation", "delay"))
        rng, pieces, i = pipe.link.rng, [], 0
        while i < len(data):  # all sizes first: a seeded connection draws them in the same order
            size = max(1, int(avg + (rng.randint(-int(var), int(var)) if var else 0)))
            pieces.append(data[i:i + size])
            i += size
        for k, piece in enumerate(pieces):
            await write(piece)
            if delay and k + 1 < len(pieces):
                await asyncio.sleep(delay / 1e6)
