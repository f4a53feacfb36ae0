"""What a trace is in one process: the active context, the header that carries it, the span files.

    from labs.tracing import core
    with core.continue_trace("4bf92f35:00f067aa:orders", component="users") as ctx:
        core.current()                     # TraceContext('4bf92f35', '00f067aa', 'users')
        span = core._Span(ctx, "users", "payments", "http", "POST /charge", request_bytes=42)
        # (a call in flight: what http.py, grpc.py and messaging.py make for every traced call)
        outgoing = {core.TRACE_HEADER: span.header}   # '4bf92f35:<new span id>:users'
        span.finish(201)                   # one JSON line in $LABS_TRACE_DIR/users-<pid>.jsonl
    core.parse_header(b"a:b:c")            # ('a', 'b', 'c'); None for anything malformed
    core.stats()                           # {'spans': 1, 'errors': 0, 'bad_headers': 0, ...}

Layer: tracing. The one idea here is the trace context and its span record, with no transport in
sight: labs.tracing.http, .grpc and .messaging put it on the wire, and `labs.tracing` re-exports
the public names (`tracing.start_trace`, `tracing.continue_trace`, ...).

How it works: a traced call carries the header/metadata `x-labs-trace: <trace_id>:<span_id>:<caller>`.
A process that receives it continues that trace, so its own downstream calls join it. The
*client* side of every call appends one JSON line (a span) to a file of its own in the directory
named by LABS_TRACE_DIR (the runtime gives every component the session's directory); the
notebook's `labs.tools.trace` merges the files. Calls without the header are not recorded.

A span: {trace_id, span_id, parent_id, caller, callee, transport ("http" | "grpc" | "amqp" | "kafka" |
"redis"), operation ("POST /orders", "/ticketing.v1.Orders/PlaceOrder", "publish orders.placed"),
status (HTTP code as an int, gRPC code name, or the exception's class name when no answer came),
request_bytes, response_bytes (payload: bodies / serialized messages, not headers), start_ns, end_ns
(time.time_ns: one clock for every process on the machine), pid} plus "error" (a short text) when
the call raised.

Tracing never breaks a call: its own failures are swallowed and counted (`stats()`). The names
with an underscore (`_current`, `_Span`, `_context_from_header`, ...) are shared with the sibling
modules of this package only.
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

