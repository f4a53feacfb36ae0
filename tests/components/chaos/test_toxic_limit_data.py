"""labs.components.chaos.toxics.limit_data: the connection closes once `bytes` have passed."""
import pytest

from labs.components.chaos.toxics import BadToxic, check_attributes


def test_bytes_range():
    assert check_attributes("limit_data", {"bytes": 1 << 50}) == {"bytes": 1 << 50}
    with pytest.raises(BadToxic, match="0..1125899906842624 bytes"):
        check_attributes("limit_data", {"bytes": -1})


def test_the_stream_stops_at_the_limit_counted_across_chunks(chaos):
    async def body(c):
        p = await c.proxy({"type": "limit_data", "attributes": {"bytes": 100}})
        reader, writer = await c.connect(p)
        assert await c.round_trip(reader, writer, b"a" * 60) >= 0  # 60 of 100 pass
        writer.write(b"b" * 60)
        assert await reader.read() == b"b" * 40  # the rest is cut at 100, then FIN
        assert p.stats["limited"] == 1
        writer.close()
    chaos(body)
