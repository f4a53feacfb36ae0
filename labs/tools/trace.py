"""See what crossed the wire: record the calls between components and draw them.

    from labs import trace
    with trace.record(name="one order") as run:
        orders.post("/orders", json={...})  # orders = trace.http_client("orders", lab.endpoint("orders")["http"])
    run.diagram()      # a mermaid sequence diagram (JupyterLab >= 4.1 draws it)
    run.table()        # caller, callee, operation, status, ms, bytes

The notebook's own calls are traced when made through `trace.http_client(...)` /
`trace.grpc_channel(...)` (or any client from labs.tracing).

Inside the block this notebook is the component "notebook"; every traced call it makes (and every
call the services make on its behalf, in their own processes) is appended as a span to a file in
the session's trace directory. After the block the files are merged and filtered by the run's
trace id. Services flush their spans as their calls finish, so the first look at `run.spans` waits
until no new span of this run has arrived for a moment (at most `settle` seconds).

Layer: tools.
"""
from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import Any, Iterable

from .. import tracing
from ..runtime import args, trace_dir as _session_trace_dir

QUIET_S = 0.1     # a run is complete once no span of it arrived for this long ...
SETTLE_S = 1.0    # ... or this long after the block ended, whichever comes first
_POLL_S = 0.02

# gRPC codes that are an answer (the callee worked and said no), like HTTP 4xx; every other
# non-OK code means the call broke.
_GRPC_ANSWERS = {"OK", "INVALID_ARGUMENT", "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED",
                 "FAILED_PRECONDITION", "OUT_OF_RANGE", "UNAUTHENTICATED"}
_last: "Run | None" = None


def _directory() -> Path:
    return Path(_session_trace_dir())


def _sizes(directory: Path) -> dict[str, int]:
    sizes = {}
    try:
        with os.scandir(directory) as entries:
            for entry in entries:
                if entry.name.endswith(".jsonl"):
                    try:
                        sizes[entry.name] = entry.stat().st_size
                    except OSError:
                        pass
    except OSError:
        pass
    return sizes


class _Reader:
    """Reads the span lines of one trace appended to a directory's files since a snapshot."""

    def __init__(self, directory: Path, trace_id: str, offsets: dict[str, int]) -> None:
        self.directory = directory
        self.needle = f'"trace_id":"{trace_id}"'.encode()
        self.trace_id = trace_id
        self.offsets = dict(offsets)
        self.spans: list[dict] = []

    def poll(self) -> int:
        """Read what was appended since the last poll; return how many spans of the trace it held."""
        found = 0
        for name, size in _sizes(self.directory).items():
            offset = self.offsets.get(name, 0)
            if size < offset:  # truncated by trace.clear()
                offset = 0
            if size == offset:
                continue
            try:
                with open(self.directory / name, "rb") as f:
                    f.seek(offset)
                    data = f.read(size - offset)
            except OSError:
                continue
            complete = data.rfind(b"\n") + 1  # a line still being written is read next time
            self.offsets[name] = offset + complete
            for line in data[:complete].splitlines():
                if self.needle in line:
                    try:
                        span = json.loads(line)
                    except ValueError:
                        continue
                    if span.get("trace_id") == self.trace_id:
                        self.spans.append(span)
                        found += 1
        return found


class Run:
    """One recorded run: use it as `with trace.record(...) as run:`, then read `run.spans`."""

    def __init__(self, name: str = "run", settle: float = SETTLE_S) -> None:
        args.seconds("settle", settle, 0, 60)
        self.name = str(name)
        self.settle = float(settle)
        self.trace_id: str | None = None
        self.root_span_id: str | None = None
        self.started_ns: int | None = None
        self.ended_ns: int | None = None
        self._token = None
        self._reader: _Reader | None = None
        self._ended_at: float | None = None
        self._spans: list[dict] | None = None

    def __enter__(self) -> "Run":
        global _last
        if self._token is not None or self.trace_id is not None:
            raise RuntimeError("a Run records once; start another with trace.record()")
        directory = _directory()
        tracing.set_trace_dir(directory)  # this process's own spans go to the session's directory
        ctx = tracing.start_trace("notebook")
        self.trace_id, self.root_span_id = ctx.trace_id, ctx.span_id
        self._reader = _Reader(directory, ctx.trace_id, _sizes(directory))
        self.started_ns = time.time_ns()
        self._token = tracing.activate(ctx)
        _last = self
        return self

    def __exit__(self, *exc: Any) -> None:
        tracing.deactivate(self._token)
        self._token = None
        self.ended_ns = time.time_ns()
        self._ended_at = time.monotonic()

    @property
    def recording(self) -> bool:
        return self._token is not None

    def _collect(self) -> list[dict]:
        if self._reader is None:
            raise RuntimeError("this run has not been recorded yet: use `with trace.record() as run:`")
        if self._spans is not None:
            return self._spans
        reader = self._reader
        reader.poll()
        if self.recording:  # a look from inside the block: what has arrived so far
            return _sorted(reader.spans)
        deadline = self._ended_at + self.settle
        quiet_since = time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(_POLL_S)
            if reader.poll():
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since >= QUIET_S:
                break
        self._spans = _sorted(reader.spans)
        self._reader.spans = []
        return self._spans

    @property
    def spans(self) -> list[dict]:
        """The run's spans from every process, in the order the calls started."""
        return list(self._collect())

    def table(self):
        """A pandas DataFrame, one row per call: caller, callee, operation, status, ms, bytes
        (bytes = request + response payload)."""
        return table(self.spans)

    def diagram(self) -> "Diagram":
        """The run as a mermaid sequence diagram (displays as one in JupyterLab >= 4.1)."""
        return Diagram(self.spans, title=self.name)

    def __repr__(self) -> str:
        if self.trace_id is None:
            return f"<trace run {self.name!r}: not recorded yet>"
        if self.recording:
            return f"<trace run {self.name!r}: recording>"
        spans = self._collect()
        parts = {p for s in spans for p in (s.get("caller"), s.get("callee"))}
        return (f"<trace run {self.name!r}: {len(spans)} call{'s' * (len(spans) != 1)} between "
                f"{len(parts)} component{'s' * (len(parts) != 1)}>")


def _sorted(spans: Iterable[dict]) -> list[dict]:
    return sorted(spans, key=lambda s: (s.get("start_ns", 0), s.get("end_ns", 0)))


def record(name: str = "run", settle: float = SETTLE_S) -> Run:
    """Record the traced calls made inside a `with` block (and everything they cause) as one run."""
    return Run(name, settle)


def http_client(callee: str, base_url: str, **kwargs: Any):
    """An httpx.Client for the notebook's calls to `callee`, traced inside `record()` blocks."""
    return tracing.traced_httpx_client("notebook", callee, base_url, **kwargs)


def grpc_channel(callee: str, target: str):
    """A gRPC channel for the notebook's calls to `callee`, traced inside `record()` blocks."""
    return tracing.traced_grpc_channel("notebook", callee, target)


def last() -> Run | None:
    """The most recently started run."""
    return _last


def clear() -> None:
    """Forget every recorded span of this session (the span files are emptied, not removed,
    because the services keep them open)."""
    global _last
    directory = _directory()
    for name in _sizes(directory):
        try:
            os.truncate(directory / name, 0)
        except OSError:
            pass
    _last = None


def _run_or_last(run: Run | None) -> Run:
    run = run or _last
    if run is None:
        raise RuntimeError("nothing recorded yet: use `with trace.record() as run:` first")
    return run


def diagram(run: Run | Iterable[dict] | None = None, title: str | None = None) -> "Diagram":
    """The sequence diagram of a run (default: the last one) or of a list of spans."""
    if run is None or isinstance(run, Run):
        run = _run_or_last(run)
        return run.diagram() if title is None else Diagram(run.spans, title=title)
    return Diagram(list(run), title=title)


def table(spans: Run | Iterable[dict] | None = None):
    """One row per call of a run (default: the last one) or of a list of spans."""
    import pandas as pd
    if spans is None or isinstance(spans, Run):
        spans = _run_or_last(spans).spans
    rows = [{"caller": s.get("caller"), "callee": s.get("callee"), "operation": s.get("operation"),
             "status": s.get("status"), "ms": round((s.get("end_ns", 0) - s.get("start_ns", 0)) / 1e6, 3),
             "bytes": int(s.get("request_bytes") or 0) + int(s.get("response_bytes") or 0)}
            for s in _sorted(spans)]
    return pd.DataFrame(rows, columns=["caller", "callee", "operation", "status", "ms", "bytes"])


# ---------------------------------------------------------------- the diagram


def failed(span: dict) -> bool:
    """Did the call break? No answer, HTTP 5xx, or a gRPC code meaning failure. HTTP 4xx and
    NOT_FOUND / FAILED_PRECONDITION / ... are answers: the callee worked and said no."""
    status = span.get("status")
    transport = span.get("transport")
    if transport == "grpc":
        return status not in _GRPC_ANSWERS
    if transport == "http":
        return not isinstance(status, int) or status >= 500
    return status not in ("ok", "OK", None) and not (isinstance(status, int) and status < 400)


_MERMAID_WORDS = {"end", "participant", "actor", "loop", "alt", "else", "opt", "par", "and", "rect", "note",
                  "over", "activate", "deactivate", "title", "autonumber", "critical", "break", "box",
                  "create", "destroy", "link", "links", "left", "right", "of", "as", "off", "properties",
                  "details", "sequencediagram"}


def _text(value: Any) -> str:
    """Text safe in a mermaid message: `#` and `;` are entity codes, no line breaks."""
    text = re.sub(r"[#;]", lambda m: "#35;" if m.group() == "#" else "#59;", str(value))
    return " ".join(text.split())


def _ms(ns: int) -> str:
    ms = ns / 1e6
    if ms < 1:
        return f"{ms:.2f} ms"
    if ms < 100:
        return f"{ms:.1f} ms"
    return f"{ms:.0f} ms"


def _bytes(n: int) -> str:
    return f"{n} B" if n < 10_000 else f"{n / 1000:.1f} kB" if n < 10_000_000 else f"{n / 1e6:.1f} MB"


WIDE = '%%{init: {"sequence": {"useMaxWidth": false}}}%%'


class Diagram:
    """A mermaid sequence diagram of spans; in a notebook it displays as the drawn diagram."""

    def __init__(self, spans: Iterable[dict], title: str | None = None) -> None:
        self.spans = _sorted(spans)
        self.title = title
        self.participants: list[str] = []
        self.mermaid = self._render()

    def _render(self) -> str:
        spans = self.spans
        by_id = {s.get("span_id"): s for s in spans}
        depth: dict[Any, int] = {}

        def depth_of(span: dict, seen: tuple = ()) -> int:
            key = span.get("span_id")
            if key not in depth:
                parent = by_id.get(span.get("parent_id"))
                depth[key] = 0 if parent is None or key in seen else depth_of(parent, seen + (key,)) + 1
            return depth[key]

        # Clamp each call inside its parent call, so a clock read a hair early or late cannot
        # draw a nested call outside the one that caused it.
        window: dict[Any, tuple[int, int]] = {}
        for span in sorted(spans, key=depth_of):
            start, end = int(span.get("start_ns", 0)), int(span.get("end_ns", 0))
            end = max(end, start)
            parent = by_id.get(span.get("parent_id"))
            if parent is not None and parent.get("transport") not in tracing.MESSAGE_TRANSPORTS \
                    and span.get("transport") not in tracing.MESSAGE_TRANSPORTS and parent.get("span_id") in window:
                p_start, p_end = window[parent.get("span_id")]
                start = min(max(start, p_start), p_end)
                end = min(max(end, start), p_end)
            window[span.get("span_id")] = (start, end)

        events = []  # (time, order keys..., line builder)
        for i, span in enumerate(spans):
            start, end = window[span.get("span_id")]
            d = depth_of(span)
            if span.get("transport") in tracing.MESSAGE_TRANSPORTS:
                events.append(((start, 1, d, i, 0), "message", span))
            else:
                events.append(((start, 1, d, i, 0), "request", span))
                # at one instant: responses before requests, inner responses before outer ones
                events.append(((end, 0, -d, i, 1) if end > start else (end, 1, d, i, 1), "response", span))
        events.sort(key=lambda e: e[0])

        ids: dict[str, str] = {}
        lines = []

        def pid(name: Any) -> str:
            name = str(name)
            if name not in ids:
                ident = re.sub(r"\W", "_", name, flags=re.ASCII) or "_"
                if not re.match(r"[A-Za-z_]", ident) or ident.lower() in _MERMAID_WORDS:
                    ident = f"p_{ident}"
                while ident in ids.values():
                    ident += "_"
                ids[name] = ident
                self.participants.append(name)
            return ids[name]

        for _, kind, span in events:
            caller, callee = pid(span.get("caller")), pid(span.get("callee"))
            if kind == "request":
                lines.append(f"{caller}->>+{callee}: {_text(span.get('operation'))}")
            elif kind == "message":
                size = int(span.get("request_bytes") or 0) + int(span.get("response_bytes") or 0)
                lines.append(f"{caller}-){callee}: {_text(span.get('operation'))} · {_bytes(size)}")
            else:
                arrow = "--x" if failed(span) else "-->>"
                label = (f"{span.get('status')} · {_ms(int(span.get('end_ns', 0)) - int(span.get('start_ns', 0)))}"
                         f" · {_bytes(int(span.get('response_bytes') or 0))}")
                lines.append(f"{callee}{arrow}-{caller}: {_text(label)}")

        head = ["sequenceDiagram"]
        if self.title:
            title = " ".join(re.sub(r"[#;]", " ", str(self.title)).split())
            if title:
                head.append(f"    title {title}")
        if not ids:
            pid("notebook")
            lines.append(f"Note over {ids['notebook']}: no traced calls")
        for name, ident in ids.items():
            head.append(f"    participant {ident}" if ident == name else f"    participant {ident} as {_text(name)}")
        return "\n".join(head + ["    " + line for line in lines])

    def _repr_markdown_(self) -> str:
        # Drawn at its natural width (a wide diagram scrolls sideways) rather than shrunk to the
        # page, where a diagram of many participants came out in 8 px text.
        return f"```mermaid\n{WIDE}\n{self.mermaid}\n```"

    def __str__(self) -> str:
        return self.mermaid

    def __repr__(self) -> str:
        return self.mermaid
