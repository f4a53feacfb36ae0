"""labs.tracing.grpc: server interceptors, client interceptors and the traced channel, on an in-process server."""
import time
from concurrent import futures

import grpc
import pytest

from labs import trace  # the notebook's reader: it must see the span as a failure
from labs import tracing


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

    def endless(request, context):  # one message, then nothing until the caller gives up
        yield b"first"
        deadline = time.monotonic() + 10
        while context.is_active() and time.monotonic() < deadline:
            time.sleep(0.01)

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4),
                         interceptors=tracing.grpc_server_interceptors("users"))
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler("t.S", {
        "Unary": grpc.unary_unary_rpc_method_handler(unary),
        "Stream": grpc.unary_stream_rpc_method_handler(stream),
        "Collect": grpc.stream_unary_rpc_method_handler(collect),
        "Chat": grpc.stream_stream_rpc_method_handler(lambda it, ctx: (m.upper() for m in it)),
        "Endless": grpc.unary_stream_rpc_method_handler(endless),
    })])
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    tracing.set_component(before)
    yield f"127.0.0.1:{port}", seen
    server.stop(0)


def test_grpc_hooks_carry_the_trace_to_the_server_and_record_each_call(span_dir, read_spans, grpc_server):
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


def test_grpc_client_interceptors_trace_a_channel_made_elsewhere(span_dir, read_spans, grpc_server):
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


def test_grpc_call_to_a_dead_server_is_recorded_as_failed(span_dir, read_spans):
    from labs.runtime import free_port
    channel = tracing.traced_grpc_channel("orders", "payments", f"127.0.0.1:{free_port()}")
    with tracing.continue_trace("t1:root:orders"), pytest.raises(grpc.RpcError):
        channel.unary_unary("/t.S/Unary")(b"x", timeout=5)
    (written,) = read_spans(span_dir)
    assert written["status"] == "UNAVAILABLE" and trace.failed(written)


def test_a_bad_trace_header_leaves_the_call_untraced_and_is_counted(grpc_server):
    target, seen = grpc_server
    before = tracing.stats()["bad_headers"]
    with grpc.insecure_channel(target) as channel:
        unary = channel.unary_unary("/t.S/Unary")
        assert unary(b"a", metadata=[("x-labs-trace", "not a header")]) == b"aa"
        assert unary(b"b", metadata=[("x-labs-trace", "t9:s9:orders")]) == b"bb"
    assert seen == [None, tracing.TraceContext("t9", "s9", "users")]
    assert tracing.stats()["bad_headers"] == before + 1


def test_a_stream_the_caller_cancels_is_recorded_as_cancelled(span_dir, read_spans, grpc_server):
    target, _ = grpc_server
    channel = tracing.traced_grpc_channel("orders", "users", target)
    with tracing.continue_trace("t1:root:orders"):
        call = channel.unary_stream("/t.S/Endless")(b"go")
        assert next(call) == b"first"
        call.cancel()
    deadline = time.monotonic() + 5
    while not read_spans(span_dir) and time.monotonic() < deadline:
        time.sleep(0.01)  # the done-callback runs on a gRPC thread
    (written,) = read_spans(span_dir)
    assert (written["operation"], written["status"]) == ("/t.S/Endless", "CANCELLED")
    assert (written["request_bytes"], written["response_bytes"]) == (2, 5)
    channel.close()


def test_the_traced_channel_closes_like_a_channel(grpc_server):
    target, _ = grpc_server
    with tracing.traced_grpc_channel("orders", "users", target) as channel:
        assert channel.unary_unary("/t.S/Unary")(b"a") == b"aa"
    with pytest.raises(ValueError, match="closed channel"):
        channel.unary_unary("/t.S/Unary")(b"a")
