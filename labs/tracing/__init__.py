"""Call tracing across the lab's processes: the hooks services and clients install.

In a service:

    from labs import tracing
    app = FastAPI();  tracing.instrument_fastapi(app, "orders")
    server = grpc.server(pool, interceptors=tracing.grpc_server_interceptors("orders"))
    users = tracing.traced_httpx_client("orders", "users", base_url=deps["users"]["http"])
    pay = PaymentsStub(tracing.traced_grpc_channel("orders", "payments", deps["payments"]["grpc"]))
    tracing.record_message("amqp", "orders.placed", "publish", broker="rabbitmq", headers=headers)

Layer: tracing (imports nothing of the lab's; labs.components and everything above install it).
A traced call carries `x-labs-trace: <trace_id>:<span_id>:<caller>`; its caller appends one span
(a JSON line) to a file in $LABS_TRACE_DIR, and the notebook's `labs.trace` merges the files.
One module per idea:

    core.py       the trace context, the header, ids, counters, the span writer
    http.py       FastAPI/ASGI middleware and httpx transports (imports httpx)
    grpc.py       server and client interceptors, a traced channel (imports grpc)
    messaging.py  broker messages (amqp, kafka, redis) as publish and consume spans

Every public name is reached from here. The core and messaging names are imported with the
package; the http and grpc ones on first use (PEP 562), so `import labs.tracing` loads neither
httpx nor grpc, and a process pays for a transport's library only when it traces that transport.
Without an active trace a call costs one contextvar lookup more than an untraced client.
"""
from __future__ import annotations

import importlib
from typing import Any

from .core import CALL_TRANSPORTS, MESSAGE_TRANSPORTS, TRACE_HEADER, TraceContext, activate, component, \
    continue_trace, current, deactivate, format_header, header_from, new_id, parse_header, set_component, \
    set_trace_dir, start_trace, stats, trace_dir, write_span
from .messaging import record_message

# name -> the submodule that defines it, imported on first use (PEP 562)
_LAZY = {
    "TraceMiddleware": "http",
    "instrument_fastapi": "http",
    "traced_httpx_client": "http",
    "traced_httpx_async_client": "http",
    "TracedTransport": "http",
    "AsyncTracedTransport": "http",
    "grpc_server_interceptors": "grpc",
    "grpc_client_interceptors": "grpc",
    "traced_grpc_channel": "grpc",
    "ServerInterceptor": "grpc",
    "ClientInterceptor": "grpc",
    "TracedChannel": "grpc",
}

__all__ = ["CALL_TRANSPORTS", "MESSAGE_TRANSPORTS", "TRACE_HEADER", "TraceContext", "activate", "component",
           "continue_trace", "current", "deactivate", "format_header", "header_from", "new_id", "parse_header",
           "record_message", "set_component", "set_trace_dir", "start_trace", "stats", "trace_dir",
           "write_span", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
        globals()[name] = value  # the next lookup is a plain attribute
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}; it offers: {', '.join(sorted(__all__))}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
