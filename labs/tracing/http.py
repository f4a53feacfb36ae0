"""HTTP calls in a trace: the server side (ASGI middleware) and the client side (httpx transports).

    from labs import tracing
    app = FastAPI()
    tracing.instrument_fastapi(app, "orders")      # requests with the header run in their trace
    users = tracing.traced_httpx_client("orders", "users", base_url=deps["users"]["http"])
    users.get("/users/1")                          # in a trace: header sent, one span written

Layer: tracing. One idea: an HTTP request carries the trace in its `x-labs-trace` header; the
caller's transport writes the span when the response body has been read (status, request and
response body bytes). Outside a trace the transport costs one contextvar lookup.

This module imports httpx; `labs.tracing` reaches it on first use of one of these names, so a
process that never makes an HTTP call does not load httpx.
"""
from __future__ import annotations

from typing import Any

import httpx

from .core import TRACE_HEADER, _HEADER_BYTES, _context_from_header, _count_error, _current, _Span, deactivate, \
    set_component


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


class _CountingStream(httpx.SyncByteStream):
    """The response body as it streams: counts its bytes, finishes the span when closed."""

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


class _AsyncCountingStream(httpx.AsyncByteStream):
    """The async counterpart of _CountingStream."""

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
        _watch(response, span, _CountingStream)
        return response

    def close(self) -> None:
        self.inner.close()


class AsyncTracedTransport(httpx.AsyncBaseTransport):
    """The async counterpart of TracedTransport, for httpx.AsyncClient."""

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
        _watch(response, span, _AsyncCountingStream)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


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
    kwargs, transport_kwargs = _client_kwargs(kwargs)
    inner = kwargs.pop("transport", None) or httpx.HTTPTransport(**transport_kwargs)
    return httpx.Client(base_url=base_url, transport=TracedTransport(inner, caller, callee), **kwargs)


def traced_httpx_async_client(caller: str, callee: str, base_url: str, **kwargs: Any):
    """The httpx.AsyncClient counterpart of `traced_httpx_client` (for `async def` handlers)."""
    kwargs, transport_kwargs = _client_kwargs(kwargs)
    inner = kwargs.pop("transport", None) or httpx.AsyncHTTPTransport(**transport_kwargs)
    return httpx.AsyncClient(base_url=base_url, transport=AsyncTracedTransport(inner, caller, callee), **kwargs)

