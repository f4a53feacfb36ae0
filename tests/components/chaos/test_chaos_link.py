"""labs.components.chaos.link: which toxics apply to a connection, and toxics changing under it."""
import asyncio


def test_a_toxic_moved_to_the_other_stream_acts_there_at_once(chaos):
    async def body(c):
        p = await c.proxy({"type": "latency", "name": "slow", "stream": "upstream", "attributes": {"latency": 60}})
        reader, writer = await c.connect(p)
        assert await c.round_trip(reader, writer) >= 0.055
        [link] = p.links
        assert [t.name for t in link.active("upstream")] == ["slow"] and link.active("downstream") == []
        p.update_toxic("slow", {"stream": "downstream"})
        assert link.active("upstream") == [] and [t.name for t in link.active("downstream")] == ["slow"]
        p.update_toxic("slow", {"toxicity": 0.0})  # a new toxicity is drawn again: 0 means never
        assert await c.round_trip(reader, writer) < 0.03
        writer.close()
    chaos(body)


def test_a_seeded_proxy_draws_the_same_toxicity_per_connection_index(chaos):
    async def body(c):
        p = await c.proxy({"type": "latency", "name": "maybe", "toxicity": 0.5}, seed="s")
        draws = []
        for _ in range(2):
            p.next_index = 0
            got = []
            for _ in range(20):
                reader, writer = await c.connect(p)
                await c.round_trip(reader, writer)
                got.append(bool(next(iter(p.links)).active("downstream")))
                writer.close()
                while p.links:
                    await asyncio.sleep(0.005)
            draws.append(got)
        assert draws[0] == draws[1] and 3 <= sum(draws[0]) <= 17
    chaos(body)


def test_an_upstream_that_refuses_is_counted_and_the_client_closed(chaos):
    async def body(c):
        p = await c.proxy(upstream="127.0.0.1:1")
        reader, writer = await c.connect(p)
        assert await reader.read() == b""
        assert p.stats["refused"] == 1
        writer.close()
    chaos(body)
