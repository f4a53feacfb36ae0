"""gRPC calls in a trace: server interceptors, client interceptors and a traced channel.

    from labs import tracing
    server = grpc.server(pool, interceptors=tracing.grpc_server_interceptors("orders"))
    pay = PaymentsStub(tracing.traced_grpc_channel("orders", "payments", deps["payments"]["grpc"]))
    pay.Charge(request)          # in a trace: metadata sent, one span (code name, message bytes)
    # a channel made elsewhere:
    channel = grpc.intercept_channel(channel, *tracing.grpc_client_interceptors("orders", "payments"))

Layer: tracing. One idea: a gRPC call carries the trace in its `x-labs-trace` metadata; the
server runs the handler in that trace, the caller writes the span when the call ends (for a
stream, when the last message arrived or the call failed).

This module imports grpc; `labs.tracing` reaches it on first use of one of these names, so a
process that never makes a gRPC call does not load grpc.
"""
from __future__ import annotations

from typing import Any

import grpc

from .core import TRACE_HEADER, TraceContext, _context_from_header, _count_error, _current, _iterate_in, _run_in, \
    _Span, set_component


def _message_size(message: Any) -> int:
    try:
        if isinstance(message, (bytes, bytearray, memoryview)):
            return len(message)
        return message.ByteSize()
    except Exception:
        return 0


def _wrap_handler(handler, ctx: TraceContext):
    """The same method handler, with its behaviour run in `ctx` (each step, for a response stream)."""
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
            return handler if ctx is None else _wrap_handler(handler, ctx)
        except Exception as exc:
            _count_error(exc)
            return handler


class _CallDetails(grpc.ClientCallDetails):
    """A call's details with other metadata (the trace header added)."""

    def __init__(self, details, metadata) -> None:
        self.method = details.method
        self.timeout = details.timeout
        self.metadata = metadata
        self.credentials = details.credentials
        self.wait_for_ready = getattr(details, "wait_for_ready", None)
        self.compression = getattr(details, "compression", None)


def _method_name(details) -> str:
    method = details.method
    return method.decode() if isinstance(method, bytes) else str(method)


def _code_name(call) -> str:
    try:
        code = call.code()
        return code.name if code is not None else "UNKNOWN"
    except Exception:
        return "UNKNOWN"


def _error_text(call) -> str | None:
    try:
        details = call.details()
    except Exception:
        details = None
    return details or None


def _counted(iterator, span: _Span):
    for message in iterator:
        span.request_bytes += _message_size(message)
        yield message


class _TracedStream:
    """A response stream (a grpc Call) whose span is written when the stream ends."""

    def __init__(self, call, span: _Span) -> None:
        self._call, self._span = call, span
        try:
            call.add_done_callback(self._on_done)
        except Exception as exc:
            _count_error(exc)

    def _on_done(self, call) -> None:
        name = _code_name(call)
        if name != "OK":  # cancelled or failed: the consumer may never iterate to the end
            self._span.finish(name, _error_text(call))

    def __iter__(self):
        return self

    def __next__(self):
        try:
            message = next(self._call)
        except StopIteration:
            self._span.finish(_code_name(self._call))
            raise
        except grpc.RpcError as exc:
            self._span.finish(_code_name(exc), _error_text(exc))
            raise
        self._span.response_bytes += _message_size(message)
        return message

    def __getattr__(self, name):
        return getattr(self._call, name)


class ClientInterceptor(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor,
                        grpc.StreamUnaryClientInterceptor, grpc.StreamStreamClientInterceptor):
    """Traces every kind of call on a channel it intercepts (grpc.intercept_channel), for as long
    as a trace is active; TracedChannel uses it for the streaming kinds."""

    def __init__(self, caller: str, callee: str) -> None:
        self.caller, self.callee = caller, callee

    def _begin(self, ctx, details, request_bytes):
        span = _Span(ctx, self.caller, self.callee, "grpc", _method_name(details), request_bytes)
        metadata = list(details.metadata or ())
        metadata.append((TRACE_HEADER, span.header))
        return span, _CallDetails(details, metadata)

    @staticmethod
    def _finish_unary(span: _Span):
        def done(call) -> None:
            try:
                name = _code_name(call)
                if name == "OK":
                    span.response_bytes = _message_size(call.result())
                    span.finish(name)
                else:
                    span.finish(name, _error_text(call))
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
            return span, new_details, _counted(request, span) if streaming_request else request
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
        return _TracedStream(continuation(new_details, request), span)

    def intercept_unary_unary(self, continuation, client_call_details, request):
        return self._unary_response(continuation, client_call_details, request, False)

    def intercept_stream_unary(self, continuation, client_call_details, request_iterator):
        return self._unary_response(continuation, client_call_details, request_iterator, True)

    def intercept_unary_stream(self, continuation, client_call_details, request):
        return self._stream_response(continuation, client_call_details, request, False)

    def intercept_stream_stream(self, continuation, client_call_details, request_iterator):
        return self._stream_response(continuation, client_call_details, request_iterator, True)


def _begin_unary(ctx, caller, callee, method, request, metadata):
    span = _Span(ctx, caller, callee, "grpc", method, _message_size(request))
    metadata = list(metadata or ())
    metadata.append((TRACE_HEADER, span.header))
    return span, metadata


class _UnaryUnary:
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
                span, metadata = _begin_unary(ctx, self.caller, self.callee, self.method, request, metadata)
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
            span.finish(_code_name(exc), _error_text(exc))
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
                span, metadata = _begin_unary(ctx, self.caller, self.callee, self.method, request, metadata)
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


class _Either:
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
    unary calls, the common case, by `_UnaryUnary` directly: gRPC's interceptor machinery
    costs some 50 µs of CPU a call, more than the tracing itself."""

    def __init__(self, channel, interceptor) -> None:
        self._channel = channel
        self._interceptor = interceptor
        self._intercepted = grpc.intercept_channel(channel, interceptor)

    def _either(self, kind: str, method, request_serializer, response_deserializer, _registered_method):
        args = (method, request_serializer, response_deserializer, _registered_method)
        return _Either(getattr(self._channel, kind)(*args), getattr(self._intercepted, kind)(*args))

    def unary_unary(self, method, request_serializer=None, response_deserializer=None,
                    _registered_method=False):
        plain = self._channel.unary_unary(method, request_serializer, response_deserializer, _registered_method)
        return _UnaryUnary(plain, self._interceptor.caller, self._interceptor.callee,
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


def grpc_server_interceptors(component: str) -> list:
    """Interceptors for grpc.server(..., interceptors=...) that continue incoming traces.

    Put them first in the list so the trace is active in every later interceptor too.
    """
    set_component(component)
    return [ServerInterceptor(component)]


def grpc_client_interceptors(caller: str, callee: str) -> list:
    """Client interceptors for grpc.intercept_channel(channel, *...), for a channel made elsewhere
    (`traced_grpc_channel` is quicker for unary calls and free when no trace is active)."""
    return [ClientInterceptor(caller, callee)]


def traced_grpc_channel(caller: str, callee: str, target: str, options: Any = None):
    """A grpc channel to `callee` whose calls are recorded and carry the trace metadata."""
    return TracedChannel(grpc.insecure_channel(target, options=options), ClientInterceptor(caller, callee))
