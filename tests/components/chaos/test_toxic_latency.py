"""labs.components.chaos.toxics.latency: a delay per chunk, not a slower stream."""
import asyncio
import random
import statistics

import pytest

from labs.components.chaos.toxics import BadToxic, check_attributes
from labs.components.chaos.toxics.latency import Latency


def test_attributes_default_and_ranges():
    assert check_attributes("latency", {"latency": 50}) == {"latency": 50, "jitter": 0}
    for bad in ({"latency": -5}, {"latency": 60_001}, {"jitter": -1}, {"latency": "50"}):
        with pytest.raises(BadToxic, match="0..60000 ms"):
            check_attributes("latency", bad)


def test_delay_is_latency_plus_or_minus_jitter_never_negative_and_seeded():
    fixed = Latency("l", "downstream", 1.0, {"latency": 40, "jitter": 0})
    assert fixed.delay(random.Random()) == 0.040
    jittery = Latency("l", "downstream", 1.0, {"latency": 40, "jitter": 10})
    draws = [jittery.delay(random.Random(f"7|{i}")) for i in range(200)]
    assert all(0.030 <= d <= 0.050 for d in draws) and len(set(draws)) > 100
    assert draws == [jittery.delay(random.Random(f"7|{i}")) for i in range(200)]  # the same seed, the same
    floor = Latency("l", "downstream", 1.0, {"latency": 0, "jitter": 10})
    assert min(floor.delay(random.Random(i)) for i in range(100)) == 0.0


def test_the_round_trip_grows_by_the_latency_but_a_burst_is_not_slowed(chaos):
    async def body(c):
        p = await c.proxy()
        reader, writer = await c.connect(p)
        base = statistics.median([await c.round_trip(reader, writer) for _ in range(30)])
        p.add_toxic({"type": "latency", "attributes": {"latency": 40}})
        slow = statistics.median([await c.round_trip(reader, writer) for _ in range(5)])
        assert 0.035 <= slow - base <= 0.060, (base, slow)
        # 20 chunks 5 ms apart: each waits 40 ms, all together take ~40 + 100 ms, not 20 x 40 ms
        t = asyncio.get_running_loop().time()
        for i in range(20):
            writer.write(b"%03d" % i)
            await asyncio.sleep(0.005)
        got = await reader.readexactly(60)
        took = asyncio.get_running_loop().time() - t
        assert got == b"".join(b"%03d" % i for i in range(20))  # in order
        assert took < 0.4, took
        p.remove_toxic("latency_downstream")
        assert await c.round_trip(reader, writer) < base + 0.01
        writer.close()
    chaos(body)
