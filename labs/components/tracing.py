"""Call tracing across the lab's processes: the hooks services and clients install.

SKELETON: the signatures below are the contract between the ticketing services and
`labs.tools.trace`; the bodies are being written (they are no-ops until then).

How it works: a traced call carries the header/metadata `x-labs-trace: <trace_id>:<span_id>:<caller>`.
A process that receives it continues that trace, so its own downstream calls join it. The
*client* side of every call appends one JSON line (a span) to a file of its own in the directory
named by LABS_TRACE_DIR (the runtime gives every component the session's directory); the
notebook's `labs.tools.trace` merges the files. Calls without the header are not recorded.
"""
from __future__ import annotations

from typing import Any

TRACE_HEADER = "x-labs-trace"


def set_component(name: str) -> None:
    """Name this process in traces ("users", "orders", ..., or "notebook")."""


def instrument_fastapi(app: Any, component: str) -> None:
    """Continue incoming traces on every request of a FastAPI app."""


def grpc_server_interceptors(component: str) -> list:
    """Interceptors for grpc.server(..., interceptors=...) that continue incoming traces."""
    return []


def traced_httpx_client(caller: str, callee: str, base_url: str, **kwargs: Any):
    """An httpx.Client whose calls to `callee` are recorded and carry the trace header."""
    import httpx
    return httpx.Client(base_url=base_url, **kwargs)


def traced_grpc_channel(caller: str, callee: str, target: str):
    """A grpc channel to `callee` whose calls are recorded and carry the trace metadata."""
    import grpc
    return grpc.insecure_channel(target)
