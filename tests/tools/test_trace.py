"""labs.trace: record the traced calls of a run, across processes, and draw them as sequence diagrams.

The hooks themselves (header, span files, HTTP and gRPC hooks, broker messages) are tested in tests/tracing/."""
import importlib.util
import os
import shutil
import subprocess
import sys
import threading
import time
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
    # drawn at its natural width, not shrunk to the page (wide diagrams stay readable)
    assert d._repr_markdown_() == f"```mermaid\n{trace.WIDE}\n{d.mermaid}\n```"
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
