"""Call tracing across the lab's processes: the hooks services and clients install.

How it works: a traced call carries the header/metadata `x-labs-trace: <trace_id>:<span_id>:<caller>`.
A process that receives it continues that trace, so its own downstream calls join it. The
*client* side of every call appends one JSON line (a span) to a file of its own in the directory
named by LABS_TRACE_DIR (the runtime gives every component the session's directory); the
notebook's `labs.tools.trace` merges the files. Calls without the header are not recorded.

In a service:

    app = FastAPI();  tracing.instrument_fastapi(app, "orders")
    server = grpc.server(pool, interceptors=tracing.grpc_server_interceptors("orders"))
    users = tracing.traced_httpx_client("orders", "users", base_url=deps["users"]["http"])
    pay = PaymentsStub(tracing.traced_grpc_channel("orders", "payments", deps["payments"]["grpc"]))

A span: {trace_id, span_id, parent_id, caller, callee, transport ("http" | "grpc" | "amqp" | "kafka" |
"redis"), operation ("POST /orders", "/ticketing.v1.Orders/PlaceOrder", "publish orders.placed"),
status (HTTP code as an int, gRPC code name, or the exception's class name when no answer came),
request_bytes, response_bytes (payload: bodies / serialized messages, not headers), start_ns, end_ns
(time.time_ns: one clock for every process on the machine), pid} plus "error" (a short text) when
the call raised.

Without an active trace a call costs one contextvar lookup more than an untraced client. Tracing
never breaks a call: its own failures are swallowed and counted (`stats()`).
"""
from __future__ import annotations

import contextlib
import contextvars
import json
import os
import random
import threading
import time
from typing import Any, Iterator, NamedTuple

TRACE_HEADER = "x-labs-trace"
_HEADER_BYTES = TRACE_HEADER.encode()
_MAX_FIELD = 128

# Transports whose spans are a request and its response (the others are one-way messages).
CALL_TRANSPORTS = ("http", "grpc")
MESSAGE_TRANSPORTS = ("amqp", "kafka", "redis")


class TraceContext(NamedTuple):
    """The trace a piece of work belongs to: calls made now become children of `span_id`."""
    trace_id: str
    span_id: str
    component: str


_current: contextvars.ContextVar[TraceContext | None] = contextvars.ContextVar("labs_trace", default=None)
_component = os.environ.get("LABS_COMPONENT", "")
_stats = {"spans": 0, "errors": 0, "bad_headers": 0, "dropped": 0}
_last_error: list[str] = []
_rand = random.Random()


def _count_error(exc: BaseException | None = None) -> None:
    """Tracing's own failure: count it, remember the last one, and carry on."""
    _stats["errors"] += 1
    if exc is not None:
        _last_error[:] = [f"{type(exc).__name__}: {exc}"[:300]]


def stats() -> dict:
    """Counters of this process: spans written, tracing's own errors, bad headers, spans dropped."""
    return {**_stats, "last_error": _last_error[0] if _last_error else None}


# ---------------------------------------------------------------- context and header


def new_id(bits: int = 64) -> str:
    return f"{_rand.getrandbits(bits):0{bits // 4}x}"


def set_component(name: str) -> None:
    """Name this process in traces ("users", "orders", ..., or "notebook")."""
    global _component
    _component = str(name)


def component() -> str:
    return _component


def current() -> TraceContext | None:
    """The active trace of this thread / task, or None."""
    return _current.get()


def format_header(trace_id: str, span_id: str, caller: str) -> str:
    return f"{trace_id}:{span_id}:{caller}"


def _valid_id(text: str) -> bool:
    return 0 < len(text) <= _MAX_FIELD and text.isascii() and text.isalnum()


def parse_header(value: Any) -> tuple[str, str, str] | None:
    """`"<trace_id>:<parent_span_id>:<caller>"` -> (trace_id, parent_span_id, caller), or None if malformed."""
    try:
        if isinstance(value, (bytes, bytearray, memoryview)):
            value = bytes(value).decode("ascii")
        if not isinstance(value, str):
            return None
        parts = value.strip().split(":", 2)
        if len(parts) != 3:
            return None
        trace_id, span_id, caller = parts
        if not (_valid_id(trace_id) and _valid_id(span_id)) or len(caller) > _MAX_FIELD \
                or not caller.isprintable():
            return None
        return trace_id, span_id, caller
    except Exception:
        return None


def _context_from_header(value: Any, component: str) -> TraceContext | None:
    parsed = parse_header(value)
    if parsed is None:
        _stats["bad_headers"] += 1
        return None
    return TraceContext(parsed[0], parsed[1], component)


def header_from(headers: Any) -> str | None:
    """The trace header in a dict (HTTP / AMQP headers) or a list of pairs (gRPC metadata, Kafka)."""
    if not headers:
        return None
    try:
        if isinstance(headers, dict) or hasattr(headers, "get"):
            value = headers.get(TRACE_HEADER)
            if value is None and hasattr(headers, "items"):
                value = next((v for k, v in headers.items()
                              if isinstance(k, (str, bytes)) and k.lower() in (TRACE_HEADER, _HEADER_BYTES)), None)
        else:
            value = next((v for k, v in headers if k in (TRACE_HEADER, _HEADER_BYTES)), None)
        if isinstance(value, (bytes, bytearray)):
            value = bytes(value).decode("ascii", "replace")
        return value
    except Exception as exc:
        _count_error(exc)
        return None


def start_trace(component: str = "notebook") -> TraceContext:
    """A fresh trace (new trace id, new root span id) for `component`; activate it with `activate`."""
    return TraceContext(new_id(128), new_id(), component)


def activate(ctx: TraceContext | None) -> contextvars.Token:
    return _current.set(ctx)


def deactivate(token: contextvars.Token) -> None:
    try:
        _current.reset(token)
    except ValueError:  # reset from another context (e.g. a generator closed elsewhere)
        _current.set(None)


@contextlib.contextmanager
def continue_trace(trace: TraceContext | str | dict | list | None,
                   component: str | None = None) -> Iterator[TraceContext | None]:
    """Run a block as part of a trace: a TraceContext, a header value, or headers holding one.

    With nothing usable (None, no header) the block runs untraced.
    """
    ctx: TraceContext | None
    if trace is None or isinstance(trace, TraceContext):
        ctx = trace
    else:
        value = trace if isinstance(trace, (str, bytes)) else header_from(trace)
        ctx = None if value is None else _context_from_header(value, component or _component)
    if ctx is not None and component:
        ctx = ctx._replace(component=component)
    token = _current.set(ctx)
    try:
        yield ctx
    finally:
        deactivate(token)


def _run_in(ctx: TraceContext, fn, *args):
    """Call fn(*args) in a copy of the current context with `ctx` active (nothing leaks out)."""
    return contextvars.copy_context().run(_call_with, ctx, fn, args)


def _call_with(ctx, fn, args):
    _current.set(ctx)
    return fn(*args)


def _iterate_in(ctx: TraceContext, fn, *args):
    """Like _run_in for a function returning an iterator: every step runs with `ctx` active."""
    context = contextvars.copy_context()
    iterator = context.run(_call_with, ctx, fn, args)
    iterator = context.run(iter, iterator)
    while True:
        try:
            item = context.run(next, iterator)
        except StopIteration:
            return
        yield item


# ---------------------------------------------------------------- span files


class _Writer:
    """One append-only JSONL file per (component, pid) in the trace directory; thread-safe.

    Each span is a single os.write on an O_APPEND descriptor: no buffer to flush, and readers in
    other processes see whole lines as soon as the call returns.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.directory: str | None = None
        self.explicit = False
        self.files: dict[tuple[str, int], int] = {}
        self.encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=str).encode

    def set_directory(self, path: str | os.PathLike | None) -> None:
        with self.lock:
            self._close_all()
            self.directory = None if path is None else os.fspath(path)
            self.explicit = path is not None

    def _close_all(self) -> None:
        for fd in self.files.values():
            try:
                os.close(fd)
            except OSError:
                pass
        self.files.clear()

    def resolve(self) -> str | None:
        if self.directory is None and not self.explicit:
            self.directory = os.environ.get("LABS_TRACE_DIR") or None
            self.explicit = True  # looked up once
        return self.directory

    def write(self, span: dict) -> None:
        line = (self.encode(span) + "\n").encode("utf-8", "replace")
        name = _component or span.get("caller") or "process"
        pid = os.getpid()
        with self.lock:
            fd = self.files.get((name, pid))
            if fd is None:
                directory = self.resolve()
                if directory is None:
                    _stats["dropped"] += 1
                    return
                safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:64] or "process"
                fd = os.open(os.path.join(directory, f"{safe}-{pid}.jsonl"),
                             os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
                self.files[(name, pid)] = fd
            os.write(fd, line)
            _stats["spans"] += 1


_writer = _Writer()


def set_trace_dir(path: str | os.PathLike | None) -> None:
    """Where this process appends its spans (default: $LABS_TRACE_DIR)."""
    _writer.set_directory(path)


def trace_dir() -> str | None:
    with _writer.lock:
        return _writer.resolve()


def write_span(span: dict) -> None:
    """Append one span to this process's file; never raises."""
    try:
        _writer.write(span)
    except Exception as exc:
        _count_error(exc)


class _Span:
    """A client call in flight; `finish` writes it exactly once."""
    __slots__ = ("ctx", "span_id", "caller", "callee", "transport", "operation", "request_bytes",
                 "response_bytes", "start_ns", "done", "lock")

    def __init__(self, ctx: TraceContext, caller: str, callee: str, transport: str, operation: str,
                 request_bytes: int = 0) -> None:
        self.ctx = ctx
        self.span_id = new_id()
        self.caller = caller
        self.callee = callee
        self.transport = transport
        self.operation = operation
        self.request_bytes = request_bytes
        self.response_bytes = 0
        self.done = False
        self.lock = threading.Lock()
        self.start_ns = time.time_ns()

    @property
    def header(self) -> str:
        return format_header(self.ctx.trace_id, self.span_id, self.caller)

    def finish(self, status: Any, error: str | None = None, end_ns: int | None = None) -> None:
        end_ns = time.time_ns() if end_ns is None else int(end_ns)
        try:
            with self.lock:
                if self.done:
                    return
                self.done = True
            span = {"trace_id": self.ctx.trace_id, "span_id": self.span_id, "parent_id": self.ctx.span_id,
                    "caller": self.caller, "callee": self.callee, "transport": self.transport,
                    "operation": self.operation, "status": status, "request_bytes": self.request_bytes,
                    "response_bytes": self.response_bytes, "start_ns": self.start_ns, "end_ns": end_ns,
                    "pid": os.getpid()}
            if error is not None:
                span["error"] = error[:300]
            _writer.write(span)
        except Exception as exc:
            _count_error(exc)


# ---------------------------------------------------------------- HTTP: server (ASGI) and client (httpx)


class TraceMiddleware:
    """Pure ASGI middleware: a request carrying the header runs as part of that trace."""

    def __init__(self, app: Any, component: str) -> None:
        self.app = app
        self.component = component

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        value = None
        for key, val in scope["headers"]:
            if key == _HEADER_BYTES:
                value = val
                break
        if value is None:
            return await self.app(scope, receive, send)
        ctx = _context_from_header(value, self.component)
        token = _current.set(ctx)
        try:
            return await self.app(scope, receive, send)
        finally:
            deactivate(token)


def instrument_fastapi(app: Any, component: str) -> None:
    """Continue incoming traces on every request of a FastAPI app (call before it starts serving)."""
    set_component(component)
    app.add_middleware(TraceMiddleware, component=component)


def _request_bytes(request: Any) -> int:
    length = request.headers.get("content-length")
    if length is not None:
        try:
            return int(length)
        except ValueError:
            pass
    try:
        return len(request.content)
    except Exception:  # a streamed body that was not read
        return 0


def _watch(response: Any, span: _Span, stream_class: type) -> None:
    """Finish the span when the body has been read and closed (now, if it already has been)."""
    try:
        if response.is_closed:  # a transport that handed back a response with its body read (mocks)
            span.response_bytes = len(response.content)
            span.finish(response.status_code)
        else:
            response.stream = stream_class(response.stream, span, response.status_code)
    except Exception as exc:
        _count_error(exc)
        span.finish(response.status_code)


_httpx_classes: dict[str, type] = {}


def _httpx_transport_classes() -> tuple[type, type]:
    """Built on first use so that importing this module does not import httpx."""
    if _httpx_classes:
        return _httpx_classes["sync"], _httpx_classes["async"]
    import httpx

    class CountingStream(httpx.SyncByteStream):
        def __init__(self, inner, span: _Span, status: int) -> None:
            self.inner, self.span, self.status = inner, span, status

        def __iter__(self):
            for chunk in self.inner:
                self.span.response_bytes += len(chunk)
                yield chunk

        def close(self) -> None:
            try:
                self.inner.close()
            finally:
                self.span.finish(self.status)

    class AsyncCountingStream(httpx.AsyncByteStream):
        def __init__(self, inner, span: _Span, status: int) -> None:
            self.inner, self.span, self.status = inner, span, status

        async def __aiter__(self):
            async for chunk in self.inner:
                self.span.response_bytes += len(chunk)
                yield chunk

        async def aclose(self) -> None:
            try:
                await self.inner.aclose()
            finally:
                self.span.finish(self.status)

    class TracedTransport(httpx.BaseTransport):
        """Wraps a transport: with an active trace, adds the header and records one span per call."""

        def __init__(self, inner: httpx.BaseTransport, caller: str, callee: str) -> None:
            self.inner, self.caller, self.callee = inner, caller, callee

        def handle_request(self, request: httpx.Request) -> httpx.Response:
            ctx = _current.get()
            if ctx is None:
                return self.inner.handle_request(request)
            try:
                span = _Span(ctx, self.caller, self.callee, "http", f"{request.method} {request.url.path}",
                             _request_bytes(request))
                request.headers[TRACE_HEADER] = span.header
            except Exception as exc:
                _count_error(exc)
                return self.inner.handle_request(request)
            try:
                response = self.inner.handle_request(request)
            except BaseException as exc:
                span.finish(type(exc).__name__, str(exc) or type(exc).__name__)
                raise
            _watch(response, span, CountingStream)
            return response

        def close(self) -> None:
            self.inner.close()

    class AsyncTracedTransport(httpx.AsyncBaseTransport):
        def __init__(self, inner: httpx.AsyncBaseTransport, caller: str, callee: str) -> None:
            self.inner, self.caller, self.callee = inner, caller, callee

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            ctx = _current.get()
            if ctx is None:
                return await self.inner.handle_async_request(request)
            try:
                span = _Span(ctx, self.caller, self.callee, "http", f"{request.method} {request.url.path}",
                             _request_bytes(request))
                request.headers[TRACE_HEADER] = span.header
            except Exception as exc:
                _count_error(exc)
                return await self.inner.handle_async_request(request)
            try:
                response = await self.inner.handle_async_request(request)
            except BaseException as exc:
                span.finish(type(exc).__name__, str(exc) or type(exc).__name__)
                raise
            _watch(response, span, AsyncCountingStream)
            return response

        async def aclose(self) -> None:
            await self.inner.aclose()

    _httpx_classes.update(sync=TracedTransport, **{"async": AsyncTracedTransport})
    return TracedTransport, AsyncTracedTransport


_TRANSPORT_KWARGS = ("verify", "cert", "http1", "http2", "limits", "trust_env")


def _client_kwargs(kwargs: dict) -> tuple[dict, dict]:
    kwargs = dict(kwargs)
    # Lab services talk over loopback: a proxy from the environment would only get in the way
    # (and proxy mounts would bypass the traced transport).
    kwargs.setdefault("trust_env", False)
    transport_kwargs = {k: kwargs[k] for k in _TRANSPORT_KWARGS if k in kwargs}
    return kwargs, transport_kwargs


def traced_httpx_client(caller: str, callee: str, base_url: str, **kwargs: Any):
    """An httpx.Client whose calls to `callee` are recorded and carry the trace header."""
    import httpx
    traced, _ = _httpx_transport_classes()
    kwargs, transport_kwargs = _client_kwargs(kwargs)
    inner = kwargs.pop("transport", None) or httpx.HTTPTransport(**transport_kwargs)
    return httpx.Client(base_url=base_url, transport=traced(inner, caller, callee), **kwargs)


def traced_httpx_async_client(caller: str, callee: str, base_url: str, **kwargs: Any):
    """The httpx.AsyncClient counterpart of `traced_httpx_client` (for `async def` handlers)."""
    import httpx
    _, traced = _httpx_transport_classes()
    kwargs, transport_kwargs = _client_kwargs(kwargs)
    inner = kwargs.pop("transport", None) or httpx.AsyncHTTPTransport(**transport_kwargs)
    return httpx.AsyncClient(base_url=base_url, transport=traced(inner, caller, callee), **kwargs)


# ---------------------------------------------------------------- gRPC: server and client interceptors


def _message_size(message: Any) -> int:
    try:
        if isinstance(message, (bytes, bytearray, memoryview)):
            return len(message)
        return message.ByteSize()
    except Exception:
        return 0


_grpc_classes: dict[str, type] = {}


def _grpc_interceptor_classes() -> tuple[type, type]:
    if _grpc_classes:
        return _grpc_classes["server"], _grpc_classes["client"]
    import grpc

    def wrap_handler(handler, ctx: TraceContext):
        if handler.request_streaming and handler.response_streaming:
            behavior = handler.stream_stream
            return grpc.stream_stream_rpc_method_handler(
                lambda it, context: _iterate_in(ctx, behavior, it, context),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer)
        if handler.request_streaming:
            behavior = handler.stream_unary
            return grpc.stream_unary_rpc_method_handler(
                lambda it, context: _run_in(ctx, behavior, it, context),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer)
        if handler.response_streaming:
            behavior = handler.unary_stream
            return grpc.unary_stream_rpc_method_handler(
                lambda request, context: _iterate_in(ctx, behavior, request, context),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer)
        behavior = handler.unary_unary
        return grpc.unary_unary_rpc_method_handler(
            lambda request, context: _run_in(ctx, behavior, request, context),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer)

    class ServerInterceptor(grpc.ServerInterceptor):
        """Runs every RPC that carries the trace metadata as part of that trace."""

        def __init__(self, component: str) -> None:
            self.component = component

        def intercept_service(self, continuation, handler_call_details):
            handler = continuation(handler_call_details)
            if handler is None:
                return None
            value = None
            for key, val in handler_call_details.invocation_metadata or ():
                if key == TRACE_HEADER:
                    value = val
                    break
            if value is None:
                return handler
            try:
                ctx = _context_from_header(value, self.component)
                return handler if ctx is None else wrap_handler(handler, ctx)
            except Exception as exc:
                _count_error(exc)
                return handler

    class CallDetails(grpc.ClientCallDetails):
        def __init__(self, details, metadata) -> None:
            self.method = details.method
            self.timeout = details.timeout
            self.metadata = metadata
            self.credentials = details.credentials
            self.wait_for_ready = getattr(details, "wait_for_ready", None)
            self.compression = getattr(details, "compression", None)

    def method_name(details) -> str:
        method = details.method
        return method.decode() if isinstance(method, bytes) else str(method)

    def code_name(call) -> str:
        try:
            code = call.code()
            return code.name if code is not None else "UNKNOWN"
        except Exception:
            return "UNKNOWN"

    def error_text(call) -> str | None:
        try:
            details = call.details()
        except Exception:
            details = None
        return details or None

    def counted(iterator, span: _Span):
        for message in iterator:
            span.request_bytes += _message_size(message)
            yield message

    class TracedStream:
        """A response stream (a grpc Call) whose span is written when the stream ends."""

        def __init__(self, call, span: _Span) -> None:
            self._call, self._span = call, span
            try:
                call.add_done_callback(self._on_done)
            except Exception as exc:
                _count_error(exc)

        def _on_done(self, call) -> None:
            name = code_name(call)
            if name != "OK":  # cancelled or failed: the consumer may never iterate to the end
                self._span.finish(name, error_text(call))

        def __iter__(self):
            return self

        def __next__(self):
            try:
                message = next(self._call)
            except StopIteration:
                self._span.finish(code_name(self._call))
                raise
            except grpc.RpcError as exc:
                self._span.finish(code_name(exc), error_text(exc))
                raise
            self._span.response_bytes += _message_size(message)
            return message

        def __getattr__(self, name):
            return getattr(self._call, name)

    class ClientInterceptor(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor,
                            grpc.StreamUnaryClientInterceptor, grpc.StreamStreamClientInterceptor):
        def __init__(self, caller: str, callee: str) -> None:
            self.caller, self.callee = caller, callee

        def _begin(self, ctx, details, request_bytes):
            span = _Span(ctx, self.caller, self.callee, "grpc", method_name(details), request_bytes)
            metadata = list(details.metadata or ())
            metadata.append((TRACE_HEADER, span.header))
            return span, CallDetails(details, metadata)

        @staticmethod
        def _finish_unary(span: _Span):
            def done(call) -> None:
                try:
                    name = code_name(call)
                    if name == "OK":
                        span.response_bytes = _message_size(call.result())
                        span.finish(name)
                    else:
                        span.finish(name, error_text(call))
                except Exception as exc:
                    _count_error(exc)
                    span.finish("UNKNOWN", str(exc))
            return done

        def _start(self, details, request, streaming_request: bool):
            """(span, details, request) for a call made inside a trace; None outside one, or when
            tracing itself failed (the call then goes out untraced)."""
            ctx = _current.get()
            if ctx is None:
                return None
            try:
                span, new_details = self._begin(ctx, details, 0 if streaming_request else _message_size(request))
                return span, new_details, counted(request, span) if streaming_request else request
            except Exception as exc:
                _count_error(exc)
                return None

        def _unary_response(self, continuation, details, request, streaming_request: bool):
            started = self._start(details, request, streaming_request)
            if started is None:
                return continuation(details, request)
            span, new_details, request = started
            outcome = continuation(new_details, request)
            try:
                outcome.add_done_callback(self._finish_unary(span))
            except Exception as exc:
                _count_error(exc)
            return outcome

        def _stream_response(self, continuation, details, request, streaming_request: bool):
            started = self._start(details, request, streaming_request)
            if started is None:
                return continuation(details, request)
            span, new_details, request = started
            return TracedStream(continuation(new_details, request), span)

        def intercept_unary_unary(self, continuation, client_call_details, request):
            return self._unary_response(continuation, client_call_details, request, False)

        def intercept_stream_unary(self, continuation, client_call_details, request_iterator):
            return self._unary_response(continuation, client_call_details, request_iterator, True)

        def intercept_unary_stream(self, continuation, client_call_details, request):
            return self._stream_response(continuation, client_call_details, request, False)

        def intercept_stream_stream(self, continuation, client_call_details, request_iterator):
            return self._stream_response(continuation, client_call_details, request_iterator, True)

    def begin_unary(ctx, caller, callee, method, request, metadata):
        span = _Span(ctx, caller, callee, "grpc", method, _message_size(request))
        metadata = list(metadata or ())
        metadata.append((TRACE_HEADER, span.header))
        return span, metadata

    class UnaryUnary:
        """A unary-unary multicallable that records a span per call while a trace is active."""
        __slots__ = ("plain", "caller", "callee", "method")

        def __init__(self, plain, caller: str, callee: str, method: str) -> None:
            self.plain, self.caller, self.callee, self.method = plain, caller, callee, method

        def _blocking(self, with_call: bool, request, timeout, metadata, credentials, wait_for_ready,
                      compression):
            ctx = _current.get()
            span = None
            if ctx is not None:
                try:
                    span, metadata = begin_unary(ctx, self.caller, self.callee, self.method, request, metadata)
                except Exception as exc:
                    _count_error(exc)
            if span is None:
                call = self.plain.with_call if with_call else self.plain
                return call(request, timeout=timeout, metadata=metadata, credentials=credentials,
                            wait_for_ready=wait_for_ready, compression=compression)
            try:
                response, call = self.plain.with_call(request, timeout=timeout, metadata=metadata,
                                                      credentials=credentials, wait_for_ready=wait_for_ready,
                                                      compression=compression)
            except grpc.RpcError as exc:
                span.finish(code_name(exc), error_text(exc))
                raise
            except BaseException as exc:
                span.finish(type(exc).__name__, str(exc) or type(exc).__name__)
                raise
            span.response_bytes = _message_size(response)
            span.finish("OK")
            return (response, call) if with_call else response

        def __call__(self, request, timeout=None, metadata=None, credentials=None, wait_for_ready=None,
                     compression=None):
            return self._blocking(False, request, timeout, metadata, credentials, wait_for_ready, compression)

        def with_call(self, request, timeout=None, metadata=None, credentials=None, wait_for_ready=None,
                      compression=None):
            return self._blocking(True, request, timeout, metadata, credentials, wait_for_ready, compression)

        def future(self, request, timeout=None, metadata=None, credentials=None, wait_for_ready=None,
                   compression=None):
            ctx = _current.get()
            span = None
            if ctx is not None:
                try:
                    span, metadata = begin_unary(ctx, self.caller, self.callee, self.method, request, metadata)
                except Exception as exc:
                    _count_error(exc)
            future = self.plain.future(request, timeout=timeout, metadata=metadata, credentials=credentials,
                                       wait_for_ready=wait_for_ready, compression=compression)
            if span is not None:
                try:
                    future.add_done_callback(ClientInterceptor._finish_unary(span))
                except Exception as exc:
                    _count_error(exc)
            return future

    class Either:
        """A multicallable that takes the intercepted path only while a trace is active."""
        __slots__ = ("plain", "traced")

        def __init__(self, plain, traced) -> None:
            self.plain, self.traced = plain, traced

        def __call__(self, *args, **kwargs):
            return (self.plain if _current.get() is None else self.traced)(*args, **kwargs)

        def with_call(self, *args, **kwargs):
            return (self.plain if _current.get() is None else self.traced).with_call(*args, **kwargs)

        def future(self, *args, **kwargs):
            return (self.plain if _current.get() is None else self.traced).future(*args, **kwargs)

    class TracedChannel(grpc.Channel):
        """A channel whose calls are traced while a trace is active; untraced calls go straight to
        the channel. Streaming calls are traced through grpc.intercept_channel(ClientInterceptor);
        unary calls, the common case, by `UnaryUnary` directly: gRPC's interceptor machinery
        costs some 50 µs of CPU a call, more than the tracing itself."""

        def __init__(self, channel, interceptor) -> None:
            self._channel = channel
            self._interceptor = interceptor
            self._intercepted = grpc.intercept_channel(channel, interceptor)

        def _either(self, kind: str, method, request_serializer, response_deserializer, _registered_method):
            args = (method, request_serializer, response_deserializer, _registered_method)
            return Either(getattr(self._channel, kind)(*args), getattr(self._intercepted, kind)(*args))

        def unary_unary(self, method, request_serializer=None, response_deserializer=None,
                        _registered_method=False):
            plain = self._channel.unary_unary(method, request_serializer, response_deserializer, _registered_method)
            return UnaryUnary(plain, self._interceptor.caller, self._interceptor.callee,
                              method.decode() if isinstance(method, bytes) else str(method))

        def unary_stream(self, method, request_serializer=None, response_deserializer=None,
                         _registered_method=False):
            return self._either("unary_stream", method, request_serializer, response_deserializer,
                                _registered_method)

        def stream_unary(self, method, request_serializer=None, response_deserializer=None,
                         _registered_method=False):
            return self._either("stream_unary", method, request_serializer, response_deserializer,
                                _registered_method)

        def stream_stream(self, method, request_serializer=None, response_deserializer=None,
                          _registered_method=False):
            return self._either("stream_stream", method, request_serializer, response_deserializer,
                                _registered_method)

        def subscribe(self, callback, try_to_connect=False):
            self._channel.subscribe(callback, try_to_connect=try_to_connect)

        def unsubscribe(self, callback):
            self._channel.unsubscribe(callback)

        def close(self):
            self._channel.close()

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.close()
            return False

    _grpc_classes.update(server=ServerInterceptor, client=ClientInterceptor, channel=TracedChannel)
    return ServerInterceptor, ClientInterceptor


def grpc_server_interceptors(component: str) -> list:
    """Interceptors for grpc.server(..., interceptors=...) that continue incoming traces.

    Put them first in the list so the trace is active in every later interceptor too.
    """
    set_component(component)
    server, _ = _grpc_interceptor_classes()
    return [server(component)]


def grpc_client_interceptors(caller: str, callee: str) -> list:
    """Client interceptors for grpc.intercept_channel(channel, *...), for a channel made elsewhere
    (`traced_grpc_channel` is quicker for unary calls and free when no trace is active)."""
    _, client = _grpc_interceptor_classes()
    return [client(caller, callee)]


def traced_grpc_channel(caller: str, callee: str, target: str, options: Any = None):
    """A grpc channel to `callee` whose calls are recorded and carry the trace metadata."""
    import grpc
    _, client = _grpc_interceptor_classes()
    return _grpc_classes["channel"](grpc.insecure_channel(target, options=options), client(caller, callee))


# ---------------------------------------------------------------- broker messages


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
        me = component or _component or "process"
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
