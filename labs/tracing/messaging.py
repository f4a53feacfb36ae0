"""Broker messages as spans: a publish and the consume it causes, linked through the message headers.

    from labs import tracing
    headers = {}                                   # AMQP headers; Kafka's list of pairs works too
    tracing.record_message("amqp", "orders.placed", "publish", broker="rabbitmq", headers=headers,
                           size=len(body))         # inside a trace: a span, and the header added
    ...                                            # the consumer, in another process:
    ctx = tracing.record_message("amqp", "orders.placed", "consume", broker="rabbitmq",
                                 headers=properties.headers, size=len(body))
    with tracing.continue_trace(ctx):
        handle(body)                               # its own calls join the publisher's trace

Layer: tracing. One idea: a message is a one-way span (transport "amqp", "kafka" or "redis";
see core.MESSAGE_TRANSPORTS), written by whoever touched the message. No broker client is
imported here: the code that publishes and consumes with pika or kafka-python (labs.clients.rabbit,
labs.lessons.eventlog) calls it around its own calls.
"""
from __future__ import annotations

from typing import Any

from . import core
from .core import TRACE_HEADER, TraceContext, _context_from_header, _count_error, _current, _Span, header_from


def record_message(transport: str, destination: str, kind: str = "publish", *, broker: str | None = None,
                   headers: Any = None, size: int = 0, status: Any = "ok", start_ns: int | None = None,
                   end_ns: int | None = None, component: str | None = None) -> TraceContext | None:
    """Record a message published to or consumed from a broker as one span.

    kind="publish": with a trace active, writes a span `<component> -> <broker>` ("publish <destination>")
    and, when `headers` is given (a dict, or a list of (key, bytes) pairs as Kafka uses), adds the
    trace header to it, so the consumer can continue the trace. Returns the publish span's context.

    kind="consume": reads the trace header from the message `headers` and writes a span
    `<broker> -> <component>` ("consume <destination>") as a child of the publish. Returns the
    context to handle the message in: `with tracing.continue_trace(ctx): handle(message)`.

    Without a trace (none active / no header in the message) it records nothing and returns None.
    """
    try:
        if kind not in ("publish", "consume"):
            raise ValueError(f"kind must be 'publish' or 'consume', not {kind!r}")
        me = component or core.component() or "process"
        broker = broker or transport
        if kind == "publish":
            ctx = _current.get()
            if ctx is None:
                return None
            span = _Span(ctx, me, broker, transport, f"publish {destination}", int(size))
            if headers is not None:
                if isinstance(headers, list):
                    headers.append((TRACE_HEADER, span.header.encode()))
                else:
                    headers[TRACE_HEADER] = span.header
            result = TraceContext(ctx.trace_id, span.span_id, me)
        else:
            value = header_from(headers)
            if value is None:
                return None
            parent = _context_from_header(value, me)
            if parent is None:
                return None
            span = _Span(parent, broker, me, transport, f"consume {destination}")
            span.response_bytes = int(size)
            result = TraceContext(parent.trace_id, span.span_id, me)
        if start_ns is not None:
            span.start_ns = int(start_ns)
        span.finish(status, end_ns=end_ns)
        return result
    except Exception as exc:
        _count_error(exc)
        return None
