"""What every ticketing service shares: its FastAPI app, error mapping for REST and gRPC, and the
addresses of the services it calls.

One error vocabulary, two transports:

    domain error   REST   gRPC                 example
    Invalid        422    INVALID_ARGUMENT     amount 0, id "U 1"
    NotFound       404    NOT_FOUND            user u99
    Conflict       409    FAILED_PRECONDITION  sold out, balance too low
    Unavailable    503    UNAVAILABLE          payments was killed (not the caller's fault)
    (a bug)        500    INTERNAL             logged with its traceback; the answer never has one

Layer: components.
"""
from __future__ import annotations

import functools
import json
from collections import Counter
import os
import sys
import traceback
from dataclasses import dataclass, field
from typing import Annotated, Any, Callable

import grpc
from fastapi import FastAPI, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from .... import tracing
from ..domain import ID_PATTERN, MAX_AMOUNT, Conflict, DomainError, Invalid, NotFound, Unavailable
from ..remote import REASON_KEY, SERVICE_KEY, GrpcLink, RestLink
from .faults import FaultMiddleware, FaultStore, add_admin_routes

# ---- request validation (pydantic answers 422 before any handler runs) ------------------------

Id = Annotated[str, Field(pattern=ID_PATTERN)]
Amount = Annotated[int, Field(gt=0, le=MAX_AMOUNT, description="whole credits")]


def id_in_path(example: str) -> Any:
    return Path(pattern=ID_PATTERN, examples=[example])


class Body(BaseModel):
    """Request bodies: exact types, no unknown fields (a typo in a field name is a 422, not ignored)."""
    model_config = ConfigDict(strict=True, extra="forbid")


class ErrorBody(BaseModel):
    """Every error answer except 422 (FastAPI's own shape, kept for schema errors)."""
    error: str = Field(description="stable reason, e.g. not_found, sold_out, insufficient_balance, unavailable")
    detail: str = Field(description="what went wrong, for a human")
    service: str | None = Field(default=None, description="with 503: the service that could not be reached")


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` documenting the error answers a route can give."""
    return {status: {"model": ErrorBody} for status in statuses}


# ---- REST -----------------------------------------------------------------------------------------

HTTP_STATUS = {Invalid: 422, NotFound: 404, Conflict: 409, Unavailable: 503}


class RequestCounter:
    """Pure ASGI: counts the requests the service itself received, per "METHOD /path" (admin,
    health and docs routes left out): what reached the server, whatever its clients believe."""

    def __init__(self, app: Any, counts: Counter) -> None:
        self.app, self.counts = app, counts

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and not scope["path"].startswith(UNCOUNTED):
            self.counts[f"{scope['method']} {scope['path']}"] += 1  # one event loop: no lock needed
        return await self.app(scope, receive, send)


UNCOUNTED = ("/admin", "/health", "/docs", "/redoc", "/openapi.json")


def new_app(service: str, summary: str, reset: Callable[[], None]) -> FastAPI:
    """A service's FastAPI app with /health, /admin/reset, fault rules (/admin/faults, applied to
    REST calls here, to gRPC calls by serve.py with a FaultInterceptor), a request counter
    (/admin/requests), traced requests and mapped errors."""
    app = FastAPI(title=f"{service} service", summary=summary, version="1.0")
    faults = app.state.faults = FaultStore(service, app)
    app.add_middleware(FaultMiddleware, store=faults)
    counts = app.state.requests = Counter()
    app.add_middleware(RequestCounter, counts=counts)  # outside the faults: a failed call was received too
    tracing.instrument_fastapi(app, service)  # added last, so outermost: injected faults are traced too
    _install_error_handlers(app, service)

    @app.get("/health", tags=["admin"])
    def health() -> dict[str, str]:
        return {"status": "ok", "service": service}

    @app.post("/admin/reset", tags=["admin"])
    def admin_reset() -> dict[str, str]:
        """Back to the seed data and no fault rules, so a lesson can run its cells again from the same state."""
        reset()
        faults.clear()
        counts.clear()
        return {"status": "reset", "service": service}

    @app.get("/admin/requests", tags=["admin"])
    def requests_received() -> dict[str, int]:
        """REST requests this service received since its last reset, per "METHOD /path"."""
        return dict(counts)

    add_admin_routes(app, faults, errors(404))

    return app


def _install_error_handlers(app: FastAPI, service: str) -> None:
    @app.exception_handler(DomainError)
    def domain_error(request: Request, exc: DomainError) -> JSONResponse:
        status = next(code for cls, code in HTTP_STATUS.items() if isinstance(exc, cls))
        if status == 422:  # the same shape as pydantic's 422s, so clients parse one format
            return JSONResponse({"detail": [{"loc": ["body"], "msg": exc.message, "type": exc.reason}]}, 422)
        body = ErrorBody(error=exc.reason, detail=exc.message, service=getattr(exc, "service", None))
        return JSONResponse(body.model_dump(exclude_none=True), status)

    @app.exception_handler(StarletteHTTPException)
    def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:
            # A body that is not JSON at all (FastAPI says 400) is a schema error like any other:
            # one status and one shape for "your request does not fit the API".
            return JSONResponse({"detail": [{"loc": ["body"], "msg": str(exc.detail), "type": "json_invalid"}]}, 422)
        # Unknown routes (404) and wrong methods (405) answer in the same shape as everything else.
        reason = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse({"error": reason, "detail": str(exc.detail)}, exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    def internal_error(request: Request, exc: Exception) -> JSONResponse:
        # A bug. The answer says where to look and nothing more; Starlette re-raises the exception
        # after this, so uvicorn writes the traceback to the service's log (stderr).
        body = ErrorBody(error="internal", detail=f"internal error in {service}; see its log")
        return JSONResponse(body.model_dump(exclude_none=True), 500)


# ---- gRPC -----------------------------------------------------------------------------------------

GRPC_STATUS = {Invalid: grpc.StatusCode.INVALID_ARGUMENT, NotFound: grpc.StatusCode.NOT_FOUND,
               Conflict: grpc.StatusCode.FAILED_PRECONDITION, Unavailable: grpc.StatusCode.UNAVAILABLE}


def rpc(method: Callable) -> Callable:
    """Decorate a servicer method: domain errors become status codes, a bug becomes INTERNAL."""

    @functools.wraps(method)
    def handler(self, request, context: grpc.ServicerContext):
        try:
            return method(self, request, context)
        except Exception as exc:
            _abort(self.service, method.__name__, exc, context)

    return handler


def rpc_stream(method: Callable) -> Callable:
    """`rpc` for a method that yields its answers (server or bidirectional streaming): an error
    raised between two messages ends the stream with the mapped status code."""

    @functools.wraps(method)
    def handler(self, request, context: grpc.ServicerContext):
        try:
            yield from method(self, request, context)
        except Exception as exc:
            _abort(self.service, method.__name__, exc, context)

    return handler


def _abort(service: str, method: str, exc: Exception, context: grpc.ServicerContext) -> None:
    if isinstance(exc, DomainError):
        code = next(code for cls, code in GRPC_STATUS.items() if isinstance(exc, cls))
        trailers = [(REASON_KEY, exc.reason)]
        if isinstance(exc, Unavailable):
            trailers.append((SERVICE_KEY, exc.service))
        context.set_trailing_metadata(trailers)
        context.abort(code, exc.message)
    print(f"{service}: bug in {method}:", file=sys.stderr)
    traceback.print_exception(exc)
    context.abort(grpc.StatusCode.INTERNAL, f"internal error in {service}; see its log")


# ---- the services this one calls -------------------------------------------------------------------

@dataclass
class Dependencies:
    """Endpoints of the services this one calls, as the runtime passes them in LABS_DEPENDENCIES:
    {"users": {"http": "http://127.0.0.1:P", "grpc": "127.0.0.1:Q"}, ...}. Never hard-coded."""
    caller: str
    endpoints: dict[str, dict[str, str]] = field(default_factory=dict)
    links: list[RestLink | GrpcLink] = field(default_factory=list)

    @classmethod
    def from_env(cls, caller: str) -> "Dependencies":
        return cls(caller, json.loads(os.environ.get("LABS_DEPENDENCIES") or "{}"))

    def _endpoint(self, callee: str, key: str) -> str:
        try:
            return self.endpoints[callee][key]
        except KeyError:
            raise RuntimeError(f"{self.caller} calls {callee}, but LABS_DEPENDENCIES gives no {key} address "
                               f"for it; start it through the lab: labs.start({self.caller!r})") from None

    def rest(self, callee: str) -> RestLink:
        link = RestLink(self.caller, callee, self._endpoint(callee, "http"))
        self.links.append(link)
        return link

    def grpc(self, callee: str) -> GrpcLink:
        link = GrpcLink(self.caller, callee, self._endpoint(callee, "grpc"))
        self.links.append(link)
        return link

    def close(self) -> None:
        for link in self.links:
            link.close()


@dataclass
class Service:
    """One service's two faces over the same state: the REST app and the gRPC servicers."""
    name: str
    app: FastAPI
    # (add_XServicer_to_server, servicer, full service name for health and reflection)
    grpc_services: list[tuple[Callable[[Any, grpc.Server], None], Any, str]]
    dependencies: Dependencies
