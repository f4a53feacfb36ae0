"""labs.tracing.messaging: a publish and its consume as two one-way spans, linked by the message headers."""
import json
import os

from labs import tracing


def test_spans_are_appended_one_json_line_each_to_a_file_per_component_and_pid(span_dir, read_spans):
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


def test_messages_outside_a_trace_record_nothing(span_dir, read_spans):
    headers = {}
    assert tracing.record_message("kafka", "t", "publish", headers=headers) is None
    assert headers == {}
    assert tracing.record_message("kafka", "t", "consume", headers=[("k", b"v")]) is None
    kafka_headers = []
    with tracing.continue_trace("t:p:c"):
        tracing.record_message("kafka", "orders", "publish", headers=kafka_headers)
    assert kafka_headers[0][0] == "x-labs-trace" and isinstance(kafka_headers[0][1], bytes)
    assert len(read_spans(span_dir)) == 1


def test_a_kafka_message_carries_the_trace_from_publish_to_consume(span_dir, read_spans):
    headers = [("content-type", b"json")]  # kafka-python's headers: a list of (str, bytes)
    with tracing.continue_trace("t1:root:orders", component="orders"):
        published = tracing.record_message("kafka", "orders", "publish", broker="kafka", headers=headers,
                                           size=10, component="orders")
    consumed = tracing.record_message("kafka", "orders", "consume", broker="kafka", headers=headers, size=10,
                                      component="billing")
    with tracing.continue_trace(consumed):
        tracing.record_message("kafka", "payments", "publish", broker="kafka", component="billing")
    publish, consume, onward = sorted(read_spans(span_dir), key=lambda s: s["start_ns"])
    assert (publish["caller"], publish["callee"], publish["request_bytes"]) == ("orders", "kafka", 10)
    assert (consume["caller"], consume["callee"], consume["response_bytes"]) == ("kafka", "billing", 10)
    assert consume["parent_id"] == published.span_id and onward["parent_id"] == consumed.span_id
    assert {s["trace_id"] for s in (publish, consume, onward)} == {"t1"}
    assert onward["operation"] == "publish payments" and onward["transport"] == "kafka"


def test_a_message_with_a_bad_header_is_consumed_untraced(span_dir, read_spans):
    before = tracing.stats()["bad_headers"]
    assert tracing.record_message("amqp", "q", "consume", headers={"x-labs-trace": "garbage"}) is None
    assert read_spans(span_dir) == [] and tracing.stats()["bad_headers"] == before + 1


def test_a_wrong_kind_is_counted_as_tracings_own_error_naming_the_kinds(span_dir, read_spans):
    before = tracing.stats()["errors"]
    with tracing.continue_trace("t:p:c"):
        assert tracing.record_message("redis", "jobs", "send") is None  # never breaks the caller
    stats = tracing.stats()
    assert stats["errors"] == before + 1 and read_spans(span_dir) == []
    assert "'publish' or 'consume'" in stats["last_error"] and "'send'" in stats["last_error"]


def test_the_times_given_are_the_spans_times(span_dir, read_spans):
    """A consumer that knows when the broker delivered the message can say so."""
    with tracing.continue_trace("t:p:c"):
        tracing.record_message("redis", "jobs", "publish", start_ns=1_000, end_ns=2_000, status="queued")
    (written,) = read_spans(span_dir)
    assert (written["start_ns"], written["end_ns"], written["status"]) == (1_000, 2_000, "queued")
    assert written["pid"] == os.getpid()
