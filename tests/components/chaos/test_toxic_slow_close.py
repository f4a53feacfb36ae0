"""labs.components.chaos.toxics.slow_close: data flows at once; only the close waits."""
import asyncio

import pytest

from labs.components.chaos.toxics import BadToxic, check_attributes


def test_delay_range():
    with pytest.raises(BadToxic, match="0..600000 ms"):
        check_attributes("slow_close", {"delay": 600_001})


def test_the_close_arrives_delay_ms_late_but_data_does_not(chaos):
    async def body(c):
        p = await c.proxy({"type": "slow_close", "attributes": {"delay": 200}})
        reader, writer = await c.connect(p)
        assert await c.round_trip(reader, writer) < 0.05
        loop = asyncio.get_running_loop()
        t = loop.time()
        writer.write_eof()  # the echo server closes in turn; its close comes back through the toxic
        assert await reader.read() == b""
        assert 0.19 <= loop.time() - t < 1.0
        writer.close()
    chaos(body)
