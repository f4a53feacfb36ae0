"""labs.trace: call tracing across processes (header, span files, hooks) and its sequence diagrams."""
import asyncio
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from concurrent import futures
from pathlib import Path

import grpc
import httpx
import pytest

import labs
from labs import trace
from labs import tracing
from labs.runtime import trace_dir
from labs.runtime.component import _registry

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


# ---------------------------------------------------------------- helpers


@pytest.fixture
def span_dir(tmp_path):
    """This process writes its spans to a fresh directory for the test (restored afterwards)."""
    before = tracing.component()
    tracing.set_trace_dir(tmp_path)
    yield tmp_path
    tracing.set_trace_dir(None)
    tracing.set_component(before)


def read_spans(directory: Path) -> list[dict]:
    return [json.loads(line) for path in sorted(directory.glob("*.jsonl"))
            for line in path.read_text().splitlines()]


def span(span_id, parent_id, caller, callee, start_ms, end_ms, transport="http", operation="GET /x",
         status=200, request_bytes=0, response_bytes=0, **extra):
    return {"trace_id": "t1", "span_id": span_id, "parent_id": parent_id, "caller": caller, "callee": callee,
            "transport": transport, "operation": operation, "status": status, "request_bytes": request_bytes,
            "response_bytes": response_bytes, "start_ns": int(start_ms * 1e6), "end_ns": int(end_ms * 1e6),
            "pid": 1, **extra}


def _mermaid_chunk() -> Path | None:
    static = Path(sys.prefix) / "share" / "jupyter" / "lab" / "static"
    for path in sorted(static.glob("*.js")) if static.is_dir() else ():
        if path.stat().st_size < 5_000_000 and b"SequenceDB" in path.read_bytes():
            return path
    return None


def assert_mermaid_parses(text: str) -> None:
    """Parse with the mermaid that JupyterLab ships (the one that will draw it), when node is here."""
    node, chunk = shutil.which("node"), _mermaid_chunk()
    if node is None or chunk is None:
        return
    result = subprocess.run([node, str(FIXTURES / "mermaid_check.js"), str(chunk)], input=text,
                            capture_output=True, text=True, timeout=60)
    if result.returncode == 2:
        return  # this JupyterLab bundles mermaid differently: nothing to check against
    assert result.returncode == 0, f"mermaid rejects the diagram: {result.stdout}{result.stderr}\n{text}"


def test_the_mermaid_check_is_real():
    """The diagram tests parse with JupyterLab's own mermaid: make sure that check can fail."""
    if shutil.which("node") is None or _mermaid_chunk() is None:
        pytest.skip("node or JupyterLab's mermaid bundle is not here")
    with pytest.raises(AssertionError, match="inactivate an inactive participant"):
        assert_mermaid_parses("sequenceDiagram\n    a->>+b: x\n    b-->>-a: y\n    b-->>-a: z\n")
    with pytest.raises(AssertionError, match="Parse error"):
        assert_mermaid_parses("sequenceDiagram\n    a->>b: x;y\n")


# ---------------------------------------------------------------- header


def test_header_round_trips_and_keeps_colons_in_the_caller():
    value = tracing.format_header("abc123", "def456", "orders")
    assert value == "abc123:def456:orders"
    assert tracing.parse_header(value) == ("abc123", "def456", "orders")
    assert tracing.parse_header(value.encode()) == ("abc123", "def456", "orders")
    assert tracing.parse_header("a:b:svc:with:colons") == ("a", "b", "svc:with:colons")
    assert tracing.parse_header(" a:b:c ") == ("a", "b", "c")


@pytest.mark.parametrize("bad", [None, 42, "", "abc", "a:b", ":b:c", "a::c", "a-b:c:d", "a:b c:d",
                                 "x" * 200 + ":b:c", "a:b:" + "c" * 200, b"\xff:b:c", "é:b:c", "a:b:c\nd"])
def test_malformed_headers_are_ignored(bad):
    assert tracing.parse_header(bad) is None


def test_header_is_found_in_dicts_and_metadata_pairs():
    assert tracing.header_from({"x-labs-trace": "a:b:c"}) == "a:b:c"
    assert tracing.header_from({"X-Labs-Trace": b"a:b:c"}) == "a:b:c"
    assert tracing.header_from([("other", b"1"), ("x-labs-trace", b"a:b:c")]) == "a:b:c"
    assert tracing.header_from([]) is None and tracing.header_from(None) is None
    assert tracing.header_from({"other": "1"}) is None


def test_ids_are_hex_of_the_right_length_and_unique():
    ids = {tracing.new_id() for _ in range(1000)}
    assert len(ids) == 1000 and all(len(i) == 16 and int(i, 16) >= 0 for i in ids)
    ctx = tracing.start_trace()
    assert len(ctx.trace_id) == 32 and ctx.component == "notebook"


def test_continue_trace_activates_and_restores():
    assert tracing.current() is None
    with tracing.continue_trace("t:p:caller", component="users") as ctx:
        assert tracing.current() == ctx == tracing.TraceContext("t", "p", "users")
        with tracing.continue_trace(None):
            assert tracing.current() is None
        assert tracing.current() == ctx
    assert tracing.current() is None
    with tracing.continue_trace({"x-labs-trace": "garbage"}) as ctx:
        assert ctx is None and tracing.current() is None


# ---------------------------------------------------------------- span files


def test_spans_are_appended_one_json_line_each_to_a_file_per_component_and_pid(span_dir):
    tracing.set_component("orders")
    with tracing.continue_trace("t1:root:notebook", component="orders"):
        headers = {}
        ctx = tracing.record_message("amqp", "orders.placed", "publish", broker="rabbitmq", headers=headers,
                                     size=120)
    assert headers["x-labs-trace"] == f"t1:{ctx.span_id}:orders"
    (path,) = span_dir.glob("*.jsonl")
    assert path.name == f"orders-{os.getpid()}.jsonl"
    (line,) = path.read_text().splitlines()
    written = json.loads(line)
    assert set(written) == {"trace_id", "span_id", "parent_id", "caller", "callee", "transport", "operation",
                            "status", "request_bytes", "response_bytes", "start_ns", "end_ns", "pid"}
    assert written["parent_id"] == "root" and written["span_id"] == ctx.span_id
    assert (written["caller"], written["callee"], written["transport"]) == ("orders", "rabbitmq", "amqp")
    assert written["operation"] == "publish orders.placed" and written["request_bytes"] == 120
    assert written["pid"] == os.getpid() and written["start_ns"] <= written["end_ns"]

    tracing.set_component("billing")
    consumed = tracing.record_message("amqp", "orders.placed", "consume", broker="rabbitmq", headers=headers,
                                      size=120)
    assert consumed.trace_id == "t1" and consumed.component == "billing"
    spans = read_spans(span_dir)
    assert len(spans) == 2 and (span_dir / f"billing-{os.getpid()}.jsonl").exists()
    consume = spans[0]  # billing-... sorts before orders-...
    assert (consume["caller"], consume["callee"], consume["parent_id"]) == ("rabbitmq", "billing", ctx.span_id)
    assert consume["span_id"] == consumed.span_id


def test_messages_outside_a_trace_record_nothing(span_dir):
    headers = {}
    assert tracing.record_message("kafka", "t", "publish", headers=headers) is None
    assert headers == {}
    assert tracing.record_message("kafka", "t", "consume", headers=[("k", b"v")]) is None
    kafka_headers = []
    with tracing.continue_trace("t:p:c"):
        tracing.record_message("kafka", "orders", "publish", headers=kafka_headers)
    assert kafka_headers[0][0] == "x-labs-trace" and isinstance(kafka_headers[0][1], bytes)
    assert len(read_spans(span_dir)) == 1


def test_concurrent_writers_never_interleave_lines(span_dir):
    def write(n):
        with tracing.continue_trace(f"t{n}:p:c"):
            for _ in range(200):
                tracing.record_message("redis", "q", "publish", size=n)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    spans = read_spans(span_dir)
    assert len(spans) == 1600
    assert all(s["request_bytes"] == int(s["trace_id"][1:]) for s in spans)


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


# ---------------------------------------------------------------- HTTP hooks (in process)


def test_http_client_adds_the_header_and_records_only_inside_a_trace(span_dir):
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


def test_http_client_records_a_call_that_got_no_answer(span_dir):
    def refuse(request):
        raise httpx.ConnectError("connection refused", request=request)

    client = tracing.traced_httpx_client("orders", "payments", "http://payments",
                                         transport=httpx.MockTransport(refuse))
    with tracing.continue_trace("t1:root:orders"), pytest.raises(httpx.ConnectError):
        client.post("/payments", json={})
    (written,) = read_spans(span_dir)
    assert written["status"] == "ConnectError" and "refused" in written["error"]


def test_async_http_client_is_traced_too(span_dir):
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


# ---------------------------------------------------------------- gRPC hooks (in process)


@pytest.fixture
def grpc_server():
    """An in-process gRPC server whose handlers report the trace they run in."""
    before = tracing.component()
    seen = []

    def unary(request, context):
        seen.append(tracing.current())
        if request == b"missing":
            context.abort(grpc.StatusCode.NOT_FOUND, "no such user")
        return request * 2

    def stream(request, context):
        for i in range(3):
            seen.append(tracing.current())
            yield b"x" * (i + 1)

    def collect(request_iterator, context):
        seen.append(tracing.current())
        return b"".join(request_iterator)

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4),
                         interceptors=tracing.grpc_server_interceptors("users"))
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler("t.S", {
        "Unary": grpc.unary_unary_rpc_method_handler(unary),
        "Stream": grpc.unary_stream_rpc_method_handler(stream),
        "Collect": grpc.stream_unary_rpc_method_handler(collect),
        "Chat": grpc.stream_stream_rpc_method_handler(lambda it, ctx: (m.upper() for m in it)),
    })])
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    tracing.set_component(before)
    yield f"127.0.0.1:{port}", seen
    server.stop(0)


def test_grpc_hooks_carry_the_trace_to_the_server_and_record_each_call(span_dir, grpc_server):
    target, seen = grpc_server
    channel = tracing.traced_grpc_channel("orders", "users", target)
    unary = channel.unary_unary("/t.S/Unary")
    assert unary(b"ab") == b"abab"
    assert seen == [None] and read_spans(span_dir) == []

    with tracing.continue_trace("t1:root:orders", component="orders"):
        response, call = unary.with_call(b"ab")
        assert response == b"abab" and call.code() == grpc.StatusCode.OK
        assert unary.future(b"abc").result() == b"abcabc"
        assert list(channel.unary_stream("/t.S/Stream")(b"")) == [b"x", b"xx", b"xxx"]
        assert channel.stream_unary("/t.S/Collect")(iter([b"a", b"bc"])) == b"abc"
        assert list(channel.stream_stream("/t.S/Chat")(iter([b"a", b"b"]))) == [b"A", b"B"]
        with pytest.raises(grpc.RpcError) as err:
            unary(b"missing")
        assert err.value.code() == grpc.StatusCode.NOT_FOUND
    time.sleep(0.2)  # the future's done-callback may run on a gRPC thread
    spans = sorted(read_spans(span_dir), key=lambda s: s["start_ns"])
    assert [s["operation"] for s in spans] == ["/t.S/Unary", "/t.S/Unary", "/t.S/Stream", "/t.S/Collect",
                                               "/t.S/Chat", "/t.S/Unary"]
    assert [s["status"] for s in spans] == ["OK"] * 5 + ["NOT_FOUND"]
    assert [(s["request_bytes"], s["response_bytes"]) for s in spans] == [(2, 4), (3, 6), (0, 6), (3, 3),
                                                                          (2, 2), (7, 0)]
    assert spans[-1]["error"] == "no such user"
    assert all(s["parent_id"] == "root" and s["transport"] == "grpc" for s in spans)
    # the server ran every traced call as a child of the client's span
    server_side = [c for c in seen[1:] if c is not None]
    assert len(server_side) == len(seen) - 1
    assert {c.component for c in server_side} == {"users"}
    assert {c.span_id for c in server_side} <= {s["span_id"] for s in spans}
    assert seen[1].span_id == spans[0]["span_id"]


def test_grpc_client_interceptors_trace_a_channel_made_elsewhere(span_dir, grpc_server):
    target, seen = grpc_server
    channel = grpc.intercept_channel(grpc.insecure_channel(target),
                                     *tracing.grpc_client_interceptors("orders", "users"))
    unary = channel.unary_unary("/t.S/Unary")
    assert unary(b"a") == b"aa"
    with tracing.continue_trace("t1:root:orders", component="orders"):
        assert unary(b"ab") == b"abab"
        response, call = unary.with_call(b"abc")
        assert response == b"abcabc" and call.code() == grpc.StatusCode.OK
        with pytest.raises(grpc.RpcError):
            unary(b"missing")
    spans = sorted(read_spans(span_dir), key=lambda s: s["start_ns"])
    assert [(s["status"], s["request_bytes"], s["response_bytes"]) for s in spans] == [
        ("OK", 2, 4), ("OK", 3, 6), ("NOT_FOUND", 7, 0)]
    assert seen[0] is None and [c.span_id for c in seen[1:]] == [s["span_id"] for s in spans]


def test_grpc_call_to_a_dead_server_is_recorded_as_failed(span_dir):
    from labs.runtime import free_port
    channel = tracing.traced_grpc_channel("orders", "payments", f"127.0.0.1:{free_port()}")
    with tracing.continue_trace("t1:root:orders"), pytest.raises(grpc.RpcError):
        channel.unary_unary("/t.S/Unary")(b"x", timeout=5)
    (written,) = read_spans(span_dir)
    assert written["status"] == "UNAVAILABLE" and trace.failed(written)


# ---------------------------------------------------------------- diagram and table


ORDER = [  # notebook -> orders -> (users, payments -> bank), one failed call, a refusal
    span("a", "root", "notebook", "orders", 0, 10, operation="POST /orders", status=201, response_bytes=412),
    span("b", "a", "orders", "users", 1, 2, operation="GET /users/1", response_bytes=80),
    span("c", "a", "orders", "payments", 3, 8, transport="grpc", operation="/ticketing.v1.Payments/Charge",
         status="OK", response_bytes=12),
    span("d", "c", "payments", "bank", 4, 5, operation="POST /charge", status=503),
    span("e", "root", "notebook", "concerts", 11, 12, operation="POST /seats", status=409),
    span("f", "root", "notebook", "notifications", 13, 14, operation="POST /mail", status="ConnectError",
         error="refused"),
]


def diagram_lines(spans, **kw):
    return [line.strip() for line in str(trace.Diagram(spans, **kw)).splitlines()]


def test_diagram_nests_calls_in_time_order_with_response_labels():
    import random
    shuffled = ORDER[:]
    random.Random(1).shuffle(shuffled)
    lines = diagram_lines(shuffled, title="one order")
    assert lines[:2] == ["sequenceDiagram", "title one order"]
    assert lines[2:8] == ["participant notebook", "participant orders", "participant users",
                          "participant payments", "participant bank", "participant concerts"]
    assert lines[9:] == [
        "notebook->>+orders: POST /orders",
        "orders->>+users: GET /users/1",
        "users-->>-orders: 200 · 1.0 ms · 80 B",
        "orders->>+payments: /ticketing.v1.Payments/Charge",
        "payments->>+bank: POST /charge",
        "bank--x-payments: 503 · 1.0 ms · 0 B",
        "payments-->>-orders: OK · 5.0 ms · 12 B",
        "orders-->>-notebook: 201 · 10.0 ms · 412 B",
        "notebook->>+concerts: POST /seats",
        "concerts-->>-notebook: 409 · 1.0 ms · 0 B",
        "notebook->>+notifications: POST /mail",
        "notifications--x-notebook: ConnectError · 1.0 ms · 0 B",
    ]
    assert lines[8] == "participant notifications"
    assert_mermaid_parses(str(trace.Diagram(shuffled, title="one order")))


def test_diagram_displays_as_a_mermaid_block():
    d = trace.Diagram(ORDER)
    assert d._repr_markdown_() == f"```mermaid\n{d.mermaid}\n```"
    assert str(d) == repr(d) == d.mermaid
    assert d.participants == ["notebook", "orders", "users", "payments", "bank", "concerts", "notifications"]


def test_a_nested_call_whose_clock_reads_outside_its_parent_is_drawn_inside():
    spans = [span("a", "root", "notebook", "up", 10, 20), span("b", "a", "up", "down", 9, 21),
             span("c", "root", "notebook", "up", 20, 30)]
    lines = diagram_lines(spans)
    assert lines[-6:] == ["notebook->>+up: GET /x", "up->>+down: GET /x", "down-->>-up: 200 · 12.0 ms · 0 B",
                          "up-->>-notebook: 200 · 10.0 ms · 0 B", "notebook->>+up: GET /x",
                          "up-->>-notebook: 200 · 10.0 ms · 0 B"]


def test_concurrent_calls_interleave_in_time_order():
    spans = [span("a", "root", "notebook", "up", 0, 10), span("b", "root", "notebook", "down", 5, 15)]
    assert diagram_lines(spans)[-4:] == ["notebook->>+up: GET /x", "notebook->>+down: GET /x",
                                         "up-->>-notebook: 200 · 10.0 ms · 0 B",
                                         "down-->>-notebook: 200 · 10.0 ms · 0 B"]
    assert_mermaid_parses(str(trace.Diagram(spans)))


def test_failures_are_drawn_with_a_cross_and_answers_are_not():
    cases = [("http", 500, True), ("http", 503, True), ("http", "ReadTimeout", True), ("http", 404, False),
             ("http", 422, False), ("grpc", "UNAVAILABLE", True), ("grpc", "DEADLINE_EXCEEDED", True),
             ("grpc", "INTERNAL", True), ("grpc", "NOT_FOUND", False), ("grpc", "FAILED_PRECONDITION", False),
             ("grpc", "OK", False)]
    for transport, status, broken in cases:
        s = span("a", "root", "notebook", "svc", 0, 1, transport=transport, status=status)
        assert trace.failed(s) is broken, (transport, status)
        assert ("svc--x-notebook" in str(trace.Diagram([s]))) is broken


def test_messages_are_one_way_arrows_and_odd_names_and_text_are_escaped():
    spans = [
        span("a", "root", "notebook", "order-service", 0, 5, operation="POST /a;b#c"),
        span("b", "a", "order-service", "rabbitmq", 1, 1, transport="amqp", operation="publish orders.placed",
             status="ok", request_bytes=120),
        span("c", "b", "rabbitmq", "end", 6, 6, transport="amqp", operation="consume orders.placed", status="ok",
             response_bytes=120),
        span("d", "c", "end", "2fa", 7, 8, response_bytes=12_345),
    ]
    lines = diagram_lines(spans, title="odd; #names")
    assert "title odd names" in lines
    assert "participant order_service as order-service" in lines
    assert "participant p_end as end" in lines and "participant p_2fa as 2fa" in lines
    assert "notebook->>+order_service: POST /a#59;b#35;c" in lines
    assert "order_service-)rabbitmq: publish orders.placed · 120 B" in lines
    assert lines[-3:] == ["rabbitmq-)p_end: consume orders.placed · 120 B", "p_end->>+p_2fa: GET /x",
                          "p_2fa-->>-p_end: 200 · 1.0 ms · 12.3 kB"]
    assert_mermaid_parses(str(trace.Diagram(spans, title="odd; #names")))


def test_an_empty_run_still_draws():
    text = str(trace.Diagram([], title="nothing"))
    assert "no traced calls" in text
    assert_mermaid_parses(text)


def test_table_has_one_row_per_call():
    df = trace.table(ORDER)
    assert list(df.columns) == ["caller", "callee", "operation", "status", "ms", "bytes"]
    assert len(df) == len(ORDER)
    assert df.iloc[0].to_dict() == {"caller": "notebook", "callee": "orders", "operation": "POST /orders",
                                    "status": 201, "ms": 10.0, "bytes": 412}


# ---------------------------------------------------------------- record() in this process


def mock_client(callee, status=200):
    return trace.http_client(callee, f"http://{callee}",
                             transport=httpx.MockTransport(lambda r: httpx.Response(status, text="ok")))


def test_record_collects_this_runs_spans_only():
    client = mock_client("orders")
    client.get("/before")
    with trace.record(name="first") as first:
        client.get("/one")
        assert first.recording and [s["operation"] for s in first.spans] == ["GET /one"]
        client.get("/two")
    client.get("/between")
    with trace.record(name="second") as second:
        client.get("/three")
    assert [s["operation"] for s in first.spans] == ["GET /one", "GET /two"]
    assert [s["operation"] for s in second.spans] == ["GET /three"]
    assert all(s["parent_id"] == first.root_span_id and s["trace_id"] == first.trace_id for s in first.spans)
    assert trace.last() is second
    assert "title second" in str(trace.diagram())
    assert "1 call between 2 components" in repr(second)
    assert (trace_dir() / f"{tracing.component() or 'notebook'}-{os.getpid()}.jsonl").exists()


def test_spans_wait_for_late_writers_but_only_briefly():
    block_ended = threading.Event()

    def late(ctx):  # e.g. a consumer handling a message after the notebook's call returned
        block_ended.wait(5)
        with tracing.continue_trace(ctx._replace(component="worker")):
            tracing.record_message("redis", "jobs", "publish")

    with trace.record(settle=1.0) as run:
        worker = threading.Thread(target=late, args=(tracing.current(),))
        worker.start()
    block_ended.set()
    started = time.monotonic()
    assert len(run.spans) == 1
    assert time.monotonic() - started < 1.0
    worker.join()


def test_clear_empties_the_span_files():
    client = mock_client("orders")
    with trace.record():
        client.get("/x")
    assert any(p.stat().st_size for p in trace_dir().glob("*.jsonl"))
    trace.clear()
    assert all(p.stat().st_size == 0 for p in trace_dir().glob("*.jsonl"))
    assert trace.last() is None
    with trace.record() as run:  # the open files keep working after a clear
        client.get("/y")
    assert [s["operation"] for s in run.spans] == ["GET /y"]


def test_a_run_records_once_and_needs_recording():
    run = trace.record()
    with pytest.raises(RuntimeError):
        run.spans
    with run:
        pass
    with pytest.raises(RuntimeError):
        with run:
            pass
    with pytest.raises(ValueError):
        trace.record(settle=-1)


# ---------------------------------------------------------------- across processes


def _fixture_specs():
    spec = importlib.util.spec_from_file_location("trace_service", FIXTURES / "trace_service.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.specs()


@pytest.fixture(scope="module")
def services():
    pytest.importorskip("fastapi")
    pytest.importorskip("uvicorn")
    specs = _fixture_specs()
    for spec in specs:
        _registry[spec.name] = spec
    try:
        with labs.start("trace-up", progress=False) as lab:
            up = lab.endpoint("trace-up")
            yield lab, trace.http_client("trace-up", up["http"], timeout=10), trace.grpc_channel("trace-up", up["grpc"])
    finally:
        for spec in specs:
            _registry.pop(spec.name, None)


def assert_chain(run, operations, statuses):
    """notebook -> trace-up -> trace-down: the second call is the child of the first, made by trace-up."""
    first, second = run.spans
    assert (first["caller"], first["callee"]) == ("notebook", "trace-up")
    assert (second["caller"], second["callee"]) == ("trace-up", "trace-down")
    assert first["parent_id"] == run.root_span_id and second["parent_id"] == first["span_id"]
    assert first["trace_id"] == second["trace_id"] == run.trace_id
    assert first["pid"] == os.getpid() and second["pid"] != os.getpid()
    assert first["start_ns"] < second["start_ns"] <= second["end_ns"] < first["end_ns"]
    assert [first["operation"], second["operation"]] == operations
    assert [first["status"], second["status"]] == statuses


def test_http_calls_are_traced_across_processes(services):
    lab, http, _ = services
    with trace.record(name="over http") as run:
        assert http.post("/relay", params={"via": "http"}, json={"seat": "A1"}).json()["bytes"] == 14
    assert_chain(run, ["POST /relay", "POST /echo"], [200, 200])
    up, down = run.spans
    assert up["request_bytes"] == len(b'{"seat":"A1"}')  # httpx sends compact JSON
    assert down["request_bytes"] == down["response_bytes"] == len(b'{"seat": "A1"}')  # the relay re-encodes
    assert_mermaid_parses(str(run.diagram()))


def test_grpc_calls_are_traced_across_processes(services):
    lab, _, channel = services
    with trace.record(name="over grpc") as run:
        assert channel.unary_unary("/trace.Fixture/Relay")(b"grpc") == b"via grpc"
    assert_chain(run, ["/trace.Fixture/Relay", "/trace.Fixture/Echo"], ["OK", "OK"])
    assert (run.spans[0]["request_bytes"], run.spans[1]["request_bytes"]) == (4, 8)


def test_mixed_streaming_async_and_failing_calls_are_traced_across_processes(services):
    lab, http, channel = services
    with trace.record() as run:
        http.post("/relay", params={"via": "grpc"}, json={})
    assert_chain(run, ["POST /relay", "/trace.Fixture/Echo"], [200, "OK"])
    with trace.record() as run:
        channel.unary_unary("/trace.Fixture/Relay")(b"http")
    assert_chain(run, ["/trace.Fixture/Relay", "POST /echo"], ["OK", 200])
    with trace.record() as run:
        assert list(channel.unary_stream("/trace.Fixture/StreamRelay")(b"")) == [b"part 0", b"part 1", b"part 2"]
    assert_chain(run, ["/trace.Fixture/StreamRelay", "/trace.Fixture/Stream"], ["OK", "OK"])
    assert run.spans[0]["response_bytes"] == run.spans[1]["response_bytes"] == 18
    with trace.record() as run:
        http.post("/relay-async")
    assert_chain(run, ["POST /relay-async", "POST /echo"], [200, 200])
    with trace.record(name="failure") as run:
        with pytest.raises(grpc.RpcError):
            channel.unary_unary("/trace.Fixture/Relay")(b"fail")
    assert_chain(run, ["/trace.Fixture/Relay", "/trace.Fixture/Fail"], ["UNAVAILABLE", "UNAVAILABLE"])
    lines = str(run.diagram()).splitlines()
    assert lines[-2:] == [f"    trace_down--x-trace_up: {lines[-2].split(': ', 1)[1]}",
                          f"    trace_up--x-notebook: {lines[-1].split(': ', 1)[1]}"]
    assert lines[-1].split(": ", 1)[1].startswith("UNAVAILABLE · ")
    for name in ("trace-up", "trace-down"):
        stats = httpx.get(lab.endpoint(name)["http"] + "/stats").json()
        assert stats["errors"] == 0 and stats["bad_headers"] == 0, (name, stats)


def test_calls_outside_record_are_not_traced(services):
    lab, http, channel = services

    def total():
        return sum(p.stat().st_size for p in trace_dir().glob("*.jsonl"))

    with trace.record():
        assert http.get("/context").json()["trace"][2] == "trace-up"
    time.sleep(0.2)
    before = total()
    assert http.get("/context").json() == {"trace": None}
    http.post("/relay", params={"via": "http"}, json={})
    http.post("/relay", params={"via": "grpc"}, json={})
    channel.unary_unary("/trace.Fixture/Relay")(b"http")
    channel.unary_unary("/trace.Fixture/Relay")(b"grpc")
    list(channel.unary_stream("/trace.Fixture/StreamRelay")(b""))
    time.sleep(0.3)
    assert total() == before
