"""labs.components.chaos.toxics.reset_peer: the connection is reset (RST) after `timeout` ms."""
import asyncio

import pytest

from labs.components.chaos.toxics import BadToxic, build, check_attributes


def test_timeout_range_and_timer():
    with pytest.raises(BadToxic, match="0..3600000 ms"):
        check_attributes("reset_peer", {"timeout": 3_600_001})
    assert build("reset_peer", "r", "downstream", 1.0, {"timeout": 0}).timer() == 0.0  # at once


def test_the_client_sees_connection_reset_after_the_timeout(chaos):
    async def body(c):
        p = await c.proxy({"type": "reset_peer", "attributes": {"timeout": 150}})
        reader, writer = await c.connect(p)
        assert await c.round_trip(reader, writer) < 0.1  # data flows until then
        loop = asyncio.get_running_loop()
        t = loop.time()
        with pytest.raises(ConnectionResetError):
            await reader.read()
        assert 0.1 <= loop.time() - t < 1.0
        assert p.stats["resets"] == 1
        writer.close()
    chaos(body)


def test_toxicity_resets_a_seeded_share_of_connections(chaos):
    async def body(c):
        p = await c.proxy({"type": "reset_peer", "toxicity": 0.5, "attributes": {"timeout": 0}}, seed=3)

        async def schedule():
            out = []
            for _ in range(30):
                reader, writer = await c.connect(p)
                try:
                    out.append(await c.round_trip(reader, writer) >= 0)
                except (ConnectionError, asyncio.IncompleteReadError):
                    out.append(False)
                writer.close()
            return out

        first = await schedule()
        p.seed, p.next_index = 3, 0  # what POST /proxies/{p} {"seed": 3} does
        assert await schedule() == first
        assert 6 <= sum(first) <= 24, first
    chaos(body)
