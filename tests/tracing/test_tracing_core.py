"""labs.tracing.core: the trace context, the header, ids, counters and the span writer."""
import contextvars
import os
import threading

import pytest

from labs import tracing
from labs.tracing import core


# ---------------------------------------------------------------- header, ids, context


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


def test_a_bad_header_is_counted_and_runs_untraced():
    before = tracing.stats()["bad_headers"]
    with tracing.continue_trace("not-a-header") as ctx:
        assert ctx is None and tracing.current() is None
    with tracing.continue_trace(b"a:b:c", component="users") as ctx:
        assert ctx == tracing.TraceContext("a", "b", "users")
    assert tracing.stats()["bad_headers"] == before + 1


def test_an_explicit_context_takes_the_component_given():
    ctx = tracing.start_trace("notebook")
    with tracing.continue_trace(ctx, component="worker") as inside:
        assert inside == ctx._replace(component="worker") == tracing.current()
    assert tracing.current() is None


def test_activate_and_deactivate_even_across_contexts():
    ctx = tracing.start_trace()
    token = tracing.activate(ctx)
    assert tracing.current() is ctx
    tracing.deactivate(token)
    assert tracing.current() is None
    # a token made in another context (a generator closed elsewhere) cannot be reset here:
    # deactivate clears the trace instead of raising
    other = contextvars.copy_context().run(tracing.activate, ctx)
    tracing.activate(ctx)
    tracing.deactivate(other)
    assert tracing.current() is None


def test_work_run_in_a_trace_sees_it_at_every_step_and_leaks_nothing():
    ctx = tracing.TraceContext("t", "s", "users")
    assert core._run_in(ctx, tracing.current) is ctx
    steps = core._iterate_in(ctx, lambda n: (tracing.current() for _ in range(n)), 3)
    with tracing.continue_trace("other:p:c"):  # the consumer iterates in a trace of its own
        assert list(steps) == [ctx] * 3
        assert tracing.current().trace_id == "other"
    assert tracing.current() is None


# ---------------------------------------------------------------- span files


def test_concurrent_writers_never_interleave_lines(span_dir, read_spans):
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


def test_a_span_is_written_once_with_every_field(span_dir, read_spans):
    ctx = tracing.TraceContext("t1", "root", "orders")
    span = core._Span(ctx, "orders", "payments", "http", "POST /charge", request_bytes=42)
    assert span.header == f"t1:{span.span_id}:orders"
    span.response_bytes = 7
    span.finish(503, error="x" * 1000, end_ns=span.start_ns + 5)
    span.finish(200)  # a second finish (e.g. close after a failure) writes nothing
    (written,) = read_spans(span_dir)
    assert written == {"trace_id": "t1", "span_id": span.span_id, "parent_id": "root", "caller": "orders",
                       "callee": "payments", "transport": "http", "operation": "POST /charge", "status": 503,
                       "request_bytes": 42, "response_bytes": 7, "start_ns": span.start_ns,
                       "end_ns": span.start_ns + 5, "pid": os.getpid(), "error": "x" * 300}


def test_file_names_are_the_component_made_safe_and_the_pid(span_dir, read_spans):
    tracing.set_component("../odd name")
    tracing.write_span({"trace_id": "t", "span_id": "s"})
    (path,) = span_dir.glob("*.jsonl")
    assert path.name == f".._odd_name-{os.getpid()}.jsonl" and path.parent == span_dir
    assert read_spans(span_dir) == [{"trace_id": "t", "span_id": "s"}]


def test_without_a_directory_spans_are_dropped_and_counted(monkeypatch):
    monkeypatch.delenv("LABS_TRACE_DIR", raising=False)
    tracing.set_trace_dir(None)
    before = tracing.stats()
    try:
        assert tracing.trace_dir() is None
        tracing.write_span({"trace_id": "t"})
        after = tracing.stats()
        assert after["dropped"] == before["dropped"] + 1 and after["spans"] == before["spans"]
    finally:
        tracing.set_trace_dir(None)  # look $LABS_TRACE_DIR up again next time


def test_the_trace_directory_comes_from_the_environment(monkeypatch, tmp_path, read_spans):
    monkeypatch.setenv("LABS_TRACE_DIR", str(tmp_path))
    tracing.set_trace_dir(None)
    try:
        assert tracing.trace_dir() == str(tmp_path)
        tracing.write_span({"trace_id": "t"})
        assert read_spans(tmp_path) == [{"trace_id": "t"}]
    finally:
        tracing.set_trace_dir(None)
