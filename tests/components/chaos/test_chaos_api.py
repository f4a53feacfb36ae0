"""labs.components.chaos.api: Toxiproxy's HTTP API on h11 (status codes, errors, HTTP/1.1 framing)."""
import asyncio

import pytest


async def raw(c, request: bytes) -> bytes:
    """Send bytes as they are, read until the server closes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", c.port)
    writer.write(request)
    writer.write_eof()
    got = await reader.read()
    writer.close()
    return got


def test_routes_answer_toxiproxys_status_codes(chaos):
    async def body(c):
        h = c.http
        up = f"127.0.0.1:{c.echo_port}"
        assert (await h.get("/health")).json() == {"status": "ok", "proxies": 0}
        assert (await h.get("/version")).json()["version"] == "2.9.0"
        r = await h.post("/proxies", json={"name": "db", "upstream": up})
        assert r.status_code == 201 and r.json()["listen"].startswith("127.0.0.1:")
        assert (await h.post("/proxies", json={"name": "db", "upstream": up})).status_code == 409
        r = await h.post("/proxies/db/toxics", json={"type": "latency", "name": "slow down"})
        assert r.status_code == 200 and r.json()["name"] == "slow down"
        assert (await h.get("/proxies/db/toxics/slow%20down?x=1")).json()["type"] == "latency"
        r = await h.patch("/proxies/db/toxics/slow%20down", json={"attributes": {"latency": 3}})
        assert r.json()["attributes"]["latency"] == 3
        assert (await h.delete("/proxies/db/toxics/slow%20down")).status_code == 204
        assert (await h.get("/proxies/db/stats")).json()["connections"] == 0
        assert (await h.get("/proxies/db/capture")).json()["connections"] == []
        assert (await h.delete("/proxies/db/capture")).status_code == 204
        assert (await h.post("/reset")).status_code == 204
        r = await h.delete("/proxies/db")
        assert r.status_code == 204 and r.content == b"" and "content-type" not in r.headers
    chaos(body)


@pytest.mark.parametrize("method, path, status, needle", [
    ("GET", "/nope", 404, "no such endpoint: /nope"),
    ("GET", "/proxies/ghost", 404, "proxy 'ghost' not found"),
    ("GET", "/proxies/ghost/toxics/t", 404, "proxy 'ghost' not found"),
    ("PUT", "/proxies", 405, "PUT is not allowed on /proxies; allowed: GET, POST"),
    ("POST", "/version", 405, "allowed: GET"),
])
def test_errors_are_json_with_error_and_status(chaos, method, path, status, needle):
    async def body(c):
        r = await c.http.request(method, path)
        assert r.status_code == status and r.json() == {"error": r.json()["error"], "status": status}
        assert needle in r.json()["error"]
    chaos(body)


def test_a_body_that_is_not_json_is_a_400(chaos):
    async def body(c):
        r = await c.http.post("/proxies", content=b"{name: db")
        assert r.status_code == 400 and r.json()["error"].startswith("the body is not JSON")
    chaos(body)


def test_http_framing_chunked_bodies_100_continue_pipelining_and_bad_requests(chaos):
    async def body(c):
        payload = b'{"name": "db", "upstream": "127.0.0.1:1"}'
        chunked = (b"POST /proxies HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n"
                   + b"%x\r\n" % 10 + payload[:10] + b"\r\n" + b"%x\r\n" % (len(payload) - 10) + payload[10:]
                   + b"\r\n0\r\n\r\n")
        got = await raw(c, chunked + b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        assert got.startswith(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\n")
        assert got.count(b"HTTP/1.1 200 OK") == 1 and got.endswith(b'{"status": "ok", "proxies": 1}')
        got = await raw(c, b"GET /health HTTP/1.0\r\n\r\n")  # HTTP/1.0: one answer, then the server closes
        assert got.startswith(b"HTTP/1.1 200 OK") and got.endswith(b"}")
        got = await raw(c, b"NONSENSE\r\n\r\n")
        assert got.startswith(b"HTTP/1.1 400 ") and b'"error": "bad HTTP request' in got
    chaos(body)
