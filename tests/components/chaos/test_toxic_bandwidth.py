"""labs.components.chaos.toxics.bandwidth: a transfer takes size / rate."""
import asyncio

import pytest

from labs.components.chaos.toxics import BadToxic, check_attributes


def test_rate_range():
    assert check_attributes("bandwidth", {}) == {"rate": 1}
    with pytest.raises(BadToxic, match="1..10000000 KB/s"):
        check_attributes("bandwidth", {"rate": 0})


@pytest.mark.parametrize("rates", [(400,), (2000, 400)])  # two toxics: the slower one sets the pace
def test_a_transfer_takes_size_over_rate(chaos, rates):
    size = 40_000  # bytes; at 400 KB/s 0.1 s

    async def body(c):
        p = await c.proxy(*({"type": "bandwidth", "name": f"bw{r}", "attributes": {"rate": r}} for r in rates))
        reader, writer = await c.connect(p)
        t = asyncio.get_running_loop().time()
        writer.write(b"x" * size)
        await reader.readexactly(size)
        took = asyncio.get_running_loop().time() - t
        expected = size / (min(rates) * 1000)
        assert expected * 0.9 <= took <= expected * 1.5 + 0.03, (took, expected)
        p.reset_toxics()
        t = asyncio.get_running_loop().time()
        writer.write(b"y" * size)
        await reader.readexactly(size)
        assert asyncio.get_running_loop().time() - t < expected / 2  # the pace goes with the toxic
        writer.close()
    chaos(body)
