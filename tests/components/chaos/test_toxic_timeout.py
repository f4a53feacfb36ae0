"""labs.components.chaos.toxics.timeout: nothing passes; the connection closes after `timeout` ms."""
import asyncio

import pytest

from labs.components.chaos.toxics import BadToxic, build, check_attributes


def test_timeout_range_and_timer():
    with pytest.raises(BadToxic, match="0..3600000 ms"):
        check_attributes("timeout", {"timeout": -1})
    assert build("timeout", "t", "downstream", 1.0, {"timeout": 0}).timer() is None  # a black hole
    assert build("timeout", "t", "downstream", 1.0, {"timeout": 250}).timer() == 0.25


def test_zero_holds_data_until_the_toxic_goes(chaos):
    async def body(c):
        p = await c.proxy()
        reader, writer = await c.connect(p)
        await c.round_trip(reader, writer)
        p.add_toxic({"type": "timeout", "attributes": {"timeout": 0}})
        writer.write(b"held")
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(reader.readexactly(4), 0.3)
        p.remove_toxic("timeout_downstream")
        assert await asyncio.wait_for(reader.readexactly(4), 2) == b"held"
        writer.close()
    chaos(body)


def test_a_timeout_closes_the_connection_and_counts_it(chaos):
    async def body(c):
        p = await c.proxy({"type": "timeout", "stream": "upstream", "attributes": {"timeout": 150}})
        reader, writer = await c.connect(p)
        loop = asyncio.get_running_loop()
        t = loop.time()
        writer.write(b"lost")
        assert await reader.read() == b""  # FIN, and what was sent never came back
        assert 0.13 <= loop.time() - t < 1.0
        assert p.stats["timeouts"] == 1 and p.stats["resets"] == 0
        writer.close()
    chaos(body)
