"""labs.components.chaos.proxy: a proxy's toxics, stats and capture (the lab extensions)."""
import asyncio
import base64

import pytest

from labs.components.chaos.proxy import ApiError


def test_stats_and_capture_show_what_crossed(chaos):
    async def body(c):
        p = await c.proxy(capture_bytes=8)
        reader, writer = await c.connect(p)
        await c.round_trip(reader, writer, b"card 4111 1111")
        live = p.capture_json()["connections"]  # a connection still open is shown too
        assert [x["upstream"]["text"] for x in live] == ["card 411"]
        writer.close()
        await reader.read()
        while p.links:
            await asyncio.sleep(0.01)
        got = p.capture_json()
        assert got["capture_bytes"] == 8 and len(got["connections"]) == 1
        up = got["connections"][0]["upstream"]
        assert up == {"bytes": 14, "captured_bytes": 8, "base64": base64.b64encode(b"card 411").decode(),
                      "text": "card 411"}
        stats = p.stats_json()
        assert stats["connections"] == 1 and stats["active"] == 0
        assert stats["bytes_upstream"] == stats["bytes_downstream"] == 14
    chaos(body)


def test_toxic_names_defaults_and_conflicts(chaos):
    async def body(c):
        p = await c.proxy()
        t = p.add_toxic({"type": "bandwidth", "stream": "upstream"})
        assert t.name == "bandwidth_upstream" and t.attributes == {"rate": 1}
        with pytest.raises(ApiError, match="already exists") as err:
            p.add_toxic({"type": "bandwidth", "stream": "upstream"})
        assert err.value.status == 409
        with pytest.raises(ApiError, match="unknown toxic field 'kind'") as err:
            p.add_toxic({"kind": "latency"})
        with pytest.raises(ApiError, match="not found on proxy") as err:
            p.update_toxic("nope", {})
        assert err.value.status == 404
        p.update_toxic("bandwidth_upstream", {"attributes": {"rate": 5}, "toxicity": 0.5})
        assert t.attributes == {"rate": 5} and t.toxicity == 0.5
    chaos(body)


def test_a_busy_listen_port_is_a_409(chaos):
    async def body(c):
        p = await c.proxy()
        with pytest.raises(ApiError, match="cannot listen") as err:
            await c.proxies.create({"name": "twin", "upstream": "127.0.0.1:1", "listen": p.listen})
        assert err.value.status == 409
    chaos(body)
