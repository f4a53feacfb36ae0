"""labs.tracing.http: the ASGI middleware and the httpx transports, on mocks and on a real socket."""
import asyncio
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from labs import tracing

BODY = b"seat " * 20_000  # 100 kB: more than one chunk, so the response streams


# ---------------------------------------------------------------- on mock transports


def test_tracing_never_breaks_a_call_when_it_cannot_write(tmp_path):
    before = tracing.stats()
    tracing.set_trace_dir(tmp_path / "missing" / "dir")
    try:
        client = tracing.traced_httpx_client("notebook", "svc", "http://svc",
                                             transport=httpx.MockTransport(lambda r: httpx.Response(200)))
        with tracing.continue_trace("t:p:notebook"):
            assert client.get("/").status_code == 200
    finally:
        tracing.set_trace_dir(None)
    assert tracing.stats()["errors"] == before["errors"] + 1
    assert "No such file" in tracing.stats()["last_error"]


def test_http_client_adds_the_header_and_records_only_inside_a_trace(span_dir, read_spans):
    seen = []

    def handler(request):
        seen.append(request.headers.get("x-labs-trace"))
        return httpx.Response(201, json={"id": 7, "seat": "A1"})

    client = tracing.traced_httpx_client("notebook", "orders", "http://orders",
                                         transport=httpx.MockTransport(handler))
    assert client.post("/orders", json={"user": 1}).status_code == 201
    assert seen == [None] and read_spans(span_dir) == []

    with tracing.continue_trace("t1:root:notebook", component="notebook"):
        response = client.post("/orders", json={"user": 1})
    assert response.json() == {"id": 7, "seat": "A1"}
    (written,) = read_spans(span_dir)
    assert seen[1] == f"t1:{written['span_id']}:notebook"
    assert written["operation"] == "POST /orders" and written["status"] == 201
    assert written["request_bytes"] == len(b'{"user":1}') and written["response_bytes"] == len(response.content)
    assert (written["caller"], written["callee"], written["transport"]) == ("notebook", "orders", "http")


def test_http_client_records_a_call_that_got_no_answer(span_dir, read_spans):
    def refuse(request):
        raise httpx.ConnectError("connection refused", request=request)

    client = tracing.traced_httpx_client("orders", "payments", "http://payments",
                                         transport=httpx.MockTransport(refuse))
    with tracing.continue_trace("t1:root:orders"), pytest.raises(httpx.ConnectError):
        client.post("/payments", json={})
    (written,) = read_spans(span_dir)
    assert written["status"] == "ConnectError" and "refused" in written["error"]


def test_async_http_client_is_traced_too(span_dir, read_spans):
    async def main():
        client = tracing.traced_httpx_async_client(
            "orders", "users", "http://users", transport=httpx.MockTransport(lambda r: httpx.Response(200, text="ok")))
        async with client:
            with tracing.continue_trace("t1:root:orders"):
                return (await client.get("/users/1")).text

    assert asyncio.run(main()) == "ok"
    (written,) = read_spans(span_dir)
    assert written["operation"] == "GET /users/1" and written["response_bytes"] == 2


def test_asgi_middleware_continues_the_incoming_trace_for_the_request_only():
    seen = []

    async def app(scope, receive, send):
        seen.append(tracing.current())

    middleware = tracing.TraceMiddleware(app, component="users")

    async def call(headers):
        await middleware({"type": "http", "headers": headers}, None, None)

    asyncio.run(call([(b"host", b"x"), (b"x-labs-trace", b"t1:s1:orders")]))
    asyncio.run(call([(b"host", b"x")]))
    asyncio.run(call([(b"x-labs-trace", b"not a header")]))
    asyncio.run(middleware({"type": "lifespan"}, None, None))
    assert seen == [tracing.TraceContext("t1", "s1", "users"), None, None, None]
    assert tracing.current() is None


def test_a_streamed_body_ends_the_span_when_it_has_been_read(span_dir, read_spans):
    chunks = [b"a" * 10, b"b" * 20, b"c" * 30]
    answer = httpx.MockTransport(lambda request: httpx.Response(200, content=iter(chunks)))
    client = tracing.traced_httpx_client("notebook", "concerts", "http://concerts", transport=answer)
    with tracing.continue_trace("t1:root:notebook"):
        with client.stream("GET", "/concerts") as response:
            assert read_spans(span_dir) == []  # the answer has begun, the call has not ended
            assert b"".join(response.iter_bytes()) == b"".join(chunks)
    (written,) = read_spans(span_dir)
    assert written["response_bytes"] == 60 and written["status"] == 200


def test_a_proxy_from_the_environment_is_not_used_unless_asked(monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    assert tracing.traced_httpx_client("notebook", "users", "http://users").trust_env is False
    assert tracing.traced_httpx_client("notebook", "users", "http://users", trust_env=True).trust_env is True


# ---------------------------------------------------------------- over a real socket


class _Handler(BaseHTTPRequestHandler):
    seen: list = []

    def do_GET(self):
        self.seen.append(self.headers.get("x-labs-trace"))
        self.send_response(200)
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def do_POST(self):
        self.seen.append(self.headers.get("x-labs-trace"))
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(201)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def http_server():
    """A plain HTTP server on 127.0.0.1 in a thread: GET answers 100 kB, POST echoes; it notes the header."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    _Handler.seen = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", _Handler.seen
    server.shutdown()
    server.server_close()


def test_over_a_socket_the_header_arrives_and_the_bytes_are_counted(span_dir, read_spans, http_server):
    base_url, seen = http_server
    with tracing.traced_httpx_client("notebook", "concerts", base_url, timeout=10) as client:
        assert client.get("/seats").content == BODY
        with tracing.continue_trace("t1:root:notebook"):
            assert len(client.get("/seats").content) == len(BODY)
            assert client.post("/orders", content=b"x" * 1234).status_code == 201
    get, post = read_spans(span_dir)
    assert seen == [None, f"t1:{get['span_id']}:notebook", f"t1:{post['span_id']}:notebook"]
    assert (get["operation"], get["status"], get["request_bytes"], get["response_bytes"]) == \
        ("GET /seats", 200, 0, len(BODY))
    assert (post["operation"], post["status"], post["request_bytes"], post["response_bytes"]) == \
        ("POST /orders", 201, 1234, 1234)
    assert get["start_ns"] < get["end_ns"] <= post["start_ns"] < post["end_ns"]


def test_a_fastapi_app_continues_the_trace_its_caller_sent(span_dir, read_spans):
    fastapi = pytest.importorskip("fastapi")
    app = fastapi.FastAPI()
    tracing.instrument_fastapi(app, "users")
    assert tracing.component() == "users"

    @app.get("/whoami")
    def whoami():  # a sync handler: FastAPI runs it in a worker thread, the trace goes along
        ctx = tracing.current()
        return None if ctx is None else ctx._asdict()

    async def main():
        client = tracing.traced_httpx_async_client("orders", "users", "http://users",
                                                   transport=httpx.ASGITransport(app=app))
        async with client:
            untraced = (await client.get("/whoami")).json()
            with tracing.continue_trace("t1:root:orders"):
                traced = (await client.get("/whoami")).json()
        return untraced, traced

    untraced, traced = asyncio.run(main())
    (written,) = read_spans(span_dir)
    assert untraced is None
    assert traced == {"trace_id": "t1", "span_id": written["span_id"], "component": "users"}
    assert (written["caller"], written["callee"], written["parent_id"]) == ("orders", "users", "root")
