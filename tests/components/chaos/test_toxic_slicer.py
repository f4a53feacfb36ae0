"""labs.components.chaos.toxics.slicer: the same bytes, in ~average_size pieces."""
import asyncio
import random
import types

import pytest

from labs.components.chaos.toxics import BadToxic, build, check_attributes


def test_size_variation_must_be_smaller_than_average_size():
    assert check_attributes("slicer", {"average_size": 10, "size_variation": 9})["size_variation"] == 9
    with pytest.raises(BadToxic, match=r"smaller than average_size \(10\), got 10"):
        check_attributes("slicer", {"average_size": 10, "size_variation": 10})
    with pytest.raises(BadToxic, match="0..10000000 us"):
        check_attributes("slicer", {"delay": -1})


def test_send_cuts_a_chunk_into_pieces_of_average_size_plus_or_minus_variation():
    toxic = build("slicer", "s", "downstream", 1.0, {"average_size": 10, "size_variation": 4, "delay": 0})
    data = bytes(range(256)) * 8

    def cut(seed):
        pieces = []

        async def write(piece):
            pieces.append(piece)
        pipe = types.SimpleNamespace(link=types.SimpleNamespace(rng=random.Random(seed)))
        asyncio.run(toxic.send(pipe, data, write))
        return pieces

    pieces = cut(1)
    assert b"".join(pieces) == data
    assert all(6 <= len(p) <= 14 for p in pieces[:-1]) and 100 < len(pieces) < 400
    assert [len(p) for p in cut(1)] == [len(p) for p in pieces]  # seeded: the same cuts


def test_sliced_data_arrives_whole_and_in_order_through_a_proxy(chaos):
    async def body(c):
        p = await c.proxy({"type": "slicer", "attributes": {"average_size": 7, "size_variation": 3, "delay": 50}})
        reader, writer = await c.connect(p)
        data = bytes(range(256)) * 4
        writer.write(data)
        assert await reader.readexactly(len(data)) == data
        writer.close()
    chaos(body)
