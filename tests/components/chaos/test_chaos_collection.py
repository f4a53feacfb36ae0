"""labs.components.chaos.collection: proxy fields, what changing them does, and populate."""
import pytest

from labs.components.chaos.proxy import ApiError


def test_create_checks_each_field_naming_what_is_allowed(chaos):
    async def body(c):
        up = f"127.0.0.1:{c.echo_port}"
        cases = [({"upstream": up}, "name must be a non-empty string"),
                 ({"name": "a/b", "upstream": up}, "without '/'"),
                 ({"name": "x", "upstream": up, "colour": 1}, "unknown proxy field 'colour'"),
                 ({"name": "x", "upstream": up, "listen": "10.0.0.1:0"}, "127.0.0.1"),
                 ({"name": "x", "upstream": "nowhere"}, "upstream must be 'host:port'"),
                 ({"name": "x", "upstream": "h:70000"}, "0..65535"),
                 ({"name": "x", "upstream": up, "enabled": "yes"}, "true or false"),
                 ({"name": "x", "upstream": up, "seed": 1.5}, "seed must be an integer, a string or null"),
                 ({"name": "x", "upstream": up, "capture_bytes": -1}, "0..1048576")]
        for fields, needle in cases:
            with pytest.raises(ApiError, match=needle) as err:
                await c.proxies.create(fields)
            assert err.value.status == 400
        assert c.proxies.proxies == {}
    chaos(body)


def test_update_restarts_on_a_new_upstream_and_down_keeps_the_port(chaos):
    async def body(c):
        p = await c.proxy()
        port = p.listen_port
        reader, writer = await c.connect(p)
        await c.proxies.update(p.name, {"enabled": False})
        assert await reader.read() == b"" and not p.enabled
        await c.proxies.update(p.name, {"enabled": True})
        assert p.listen_port == port and p.enabled
        await c.proxies.update(p.name, {"upstream": "127.0.0.1:1"})
        assert p.upstream_addr == ("127.0.0.1", 1) and p.listen_port == port
    chaos(body)


def test_populate_keeps_a_matching_proxy_and_replaces_a_changed_one(chaos):
    async def body(c):
        up = f"127.0.0.1:{c.echo_port}"
        r = await c.http.post("/populate", json=[{"name": "a", "upstream": up, "listen": "127.0.0.1:0"}])
        assert r.status_code == 201
        listen = r.json()["proxies"][0]["listen"]
        a = c.proxies.get("a")
        a.add_toxic({"type": "latency"})
        reader, writer = await c.connect(a)
        again = [{"name": "a", "upstream": up, "listen": listen}, {"name": "b", "upstream": up}]
        r = await c.http.post("/populate", json={"proxies": again})
        assert [p["name"] for p in r.json()["proxies"]] == ["a", "b"]
        assert c.proxies.get("a") is a and list(a.toxics) == ["latency_downstream"]  # untouched ...
        assert await c.round_trip(reader, writer) >= 0  # ... and so is its connection
        r = await c.http.post("/populate", json=[{"name": "a", "upstream": "127.0.0.1:1", "listen": listen}])
        assert c.proxies.get("a") is not a and c.proxies.get("a").toxics == {}  # a new upstream: replaced
        assert await reader.read() == b""
        r = await c.http.post("/populate", json=[{"name": "c", "upstream": up}, {"name": "d"}])
        assert r.status_code == 400 and "c" not in c.proxies.proxies  # checked before any is made
    chaos(body)


def test_reset_enables_every_proxy_and_removes_every_toxic(chaos):
    async def body(c):
        p = await c.proxy({"type": "latency"}, enabled=False)
        assert not p.enabled and p.listener is None
        await c.proxies.reset()
        assert p.enabled and p.toxics == {}
    chaos(body)
