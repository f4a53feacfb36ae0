"""The service side of L7 fault rules (see ..faults for what a rule is and the lessons' client).

    FaultStore       the rules of one service, their random sequences and counters (thread-safe:
                     gRPC calls run in a thread pool, REST calls on the event loop)
    FaultMiddleware  pure ASGI: applies the rules to REST calls before routing, so before any handler
    FaultInterceptor gRPC server interceptor: the same for RPCs, inside the call's worker thread
    add_admin_routes GET/POST /admin/faults, DELETE /admin/faults/{rule_id}, DELETE /admin/faults

On a matching call every matching rule counts it and draws from its own random sequence (so a
seeded rule's sequence does not depend on other rules); the call waits the sum of their latencies,
then the first rule whose draw failed answers with its error.

Layer: components.
"""
from __future__ import annotations

import asyncio
import itertools
import json
import random
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import grpc
from fastapi import FastAPI, Path
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field

from ..domain import Invalid, NotFound
from ..fault_rules import (HTTP_STATUS_RANGE, INJECTED, MAX_LATENCY_MS, check_match, check_rule, grpc_code_names)
from ..remote import REASON_KEY, SERVICE_KEY

RULE_KEY = "x-labs-fault-rule"  # header (REST) and trailer (gRPC) naming the rule that failed a call
UNFAULTED = ("/admin", "/health", "/docs", "/redoc", "/openapi.json")  # a rule must not lock a lesson out


@dataclass
class Rule:
    id: str
    match: str
    transport: str  # "http" or "grpc"
    error_rate: float
    http_status: int | None
    grpc_code: str | None
    added_latency_ms: float
    seed: int | None
    matched: int = 0
    failed: int = 0
    method: str = ""
    path: re.Pattern | None = None
    rng: random.Random = field(default_factory=random.Random, repr=False)

    def view(self) -> dict[str, Any]:
        return {"id": self.id, "match": self.match, "transport": self.transport, "error_rate": self.error_rate,
                "http_status": self.http_status, "grpc_code": self.grpc_code,
                "added_latency_ms": self.added_latency_ms, "seed": self.seed, "matched": self.matched,
                "failed": self.failed}

    def detail(self, service: str) -> str:
        return (f"injected fault: rule {self.id} of {service} failed this call on purpose "
                f"({self.match}, error_rate {self.error_rate:g})")


def _template_regex(template: str) -> re.Pattern:
    """"/users/{user_id}/debit" -> one path segment per parameter, the rest literal."""
    parts = re.split(r"(\{[^/{}]+\})", template)
    return re.compile("".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts))


class FaultStore:
    def __init__(self, service: str, app: FastAPI):
        self.service, self.app = service, app
        self.rules: list[Rule] = []
        self._lock = threading.Lock()
        self._ids = itertools.count(1)

    # -- what a rule may match: the service's own API, never its admin routes
    def http_routes(self) -> list[str]:
        return sorted(f"{method} {route.path}" for route in self.app.routes if isinstance(route, APIRoute)
                      and not route.path.startswith(UNFAULTED) for method in route.methods)

    def grpc_methods(self) -> list[str]:
        from ....protos import ticketing_pb2
        described = ticketing_pb2.DESCRIPTOR.services_by_name.get(self.service.capitalize())
        return [] if described is None else [f"/{described.full_name}/{m.name}" for m in described.methods]

    def add(self, fields: dict[str, Any]) -> Rule:
        try:
            checked = check_rule(**fields)
        except ValueError as err:
            raise Invalid(str(err)) from None
        transport = check_match(checked["match"])
        known = self.http_routes() if transport == "http" else self.grpc_methods()
        if checked["match"] not in known:
            raise Invalid(f"{self.service} has no {'route' if transport == 'http' else 'gRPC method'} "
                          f"{checked['match']!r}; it has: {', '.join(self.http_routes() + self.grpc_methods())}")
        rule = Rule(id=f"f{next(self._ids)}", transport=transport, rng=random.Random(checked["seed"]), **checked)
        if transport == "http":
            rule.method, template = checked["match"].split(" ", 1)
            rule.path = _template_regex(template)
        with self._lock:
            self.rules.append(rule)
        return rule

    def remove(self, rule_id: str) -> Rule:
        with self._lock:
            for rule in self.rules:
                if rule.id == rule_id:
                    self.rules.remove(rule)
                    return rule
        raise NotFound(f"{self.service} has no fault rule {rule_id!r}", "not_found")

    def clear(self) -> int:
        with self._lock:
            removed, self.rules = len(self.rules), []
        return removed

    def list(self) -> list[dict[str, Any]]:
        with self._lock:
            return [rule.view() for rule in self.rules]

    def decide(self, transport: str, key: str, path: str = "") -> tuple[float, Rule | None]:
        """(seconds to wait, the rule that fails this call or None) for one incoming call."""
        latency_ms, failing = 0.0, None
        with self._lock:
            for rule in self.rules:
                if rule.transport != transport:
                    continue
                if transport == "http":
                    if rule.method != key or not rule.path.fullmatch(path):
                        continue
                elif rule.match != key:
                    continue
                rule.matched += 1
                latency_ms += rule.added_latency_ms
                fails = rule.rng.random() < rule.error_rate
                if fails and failing is None:
                    failing = rule
                    rule.failed += 1
        return latency_ms / 1000, failing


# ---- REST ----------------------------------------------------------------------------------------------

class FaultMiddleware:
    """Pure ASGI: latency, then the injected error, before the request reaches routing."""

    def __init__(self, app: Any, store: FaultStore) -> None:
        self.app, self.store = app, store

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not self.store.rules:
            return await self.app(scope, receive, send)
        delay, rule = self.store.decide("http", scope["method"], scope["path"])
        if delay:
            await asyncio.sleep(delay)
        if rule is None:
            return await self.app(scope, receive, send)
        while (await receive()).get("more_body"):  # read the request's body before answering
            pass
        status = rule.http_status or 503
        body = json.dumps({"error": INJECTED, "detail": rule.detail(self.store.service),
                           "service": self.store.service, "rule": rule.id}).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (RULE_KEY.encode(), rule.id.encode())]})
        await send({"type": "http.response.body", "body": body})


class RuleIn(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")  # as common.Body (not imported: common imports this)
    match: str = Field(description='HTTP "METHOD /path-template" as in this schema, or a gRPC method '
                                   '"/ticketing.v1.Service/Method"', examples=["POST /payments"])
    error_rate: float = Field(0.0, description="fraction of matching calls to fail, 0 to 1",
                              json_schema_extra={"minimum": 0, "maximum": 1})
    http_status: int | None = Field(None, description=f"status of a failed REST call, {HTTP_STATUS_RANGE[0]} to "
                                                      f"{HTTP_STATUS_RANGE[1]} (default 503)")
    grpc_code: str | None = Field(None, description="grpc.StatusCode name of a failed RPC (default UNAVAILABLE)",
                                  json_schema_extra={"enum": grpc_code_names()})
    added_latency_ms: float = Field(0.0, description=f"delay before every matching call, 0 to {MAX_LATENCY_MS} ms",
                                    json_schema_extra={"minimum": 0, "maximum": MAX_LATENCY_MS})
    seed: int | None = Field(None, description="the same seed gives the same pass/fail sequence")


class RuleOut(BaseModel):
    id: str
    match: str
    transport: str = Field(description="http or grpc")
    error_rate: float
    http_status: int | None
    grpc_code: str | None
    added_latency_ms: float
    seed: int | None
    matched: int = Field(description="calls the rule matched")
    failed: int = Field(description="calls the rule failed")


class Cleared(BaseModel):
    status: str
    service: str
    removed: int


def add_admin_routes(app: FastAPI, store: FaultStore, not_found: dict) -> None:
    @app.get("/admin/faults", tags=["admin"])
    def list_faults() -> list[RuleOut]:
        """The fault rules, in the order they apply, with how many calls each matched and failed."""
        return store.list()

    @app.post("/admin/faults", status_code=201, tags=["admin"])
    def add_fault(rule: RuleIn) -> RuleOut:
        """Fail or delay the calls of one route or gRPC method on purpose (422 names the allowed range
        of a bad field, or the routes and methods this service has)."""
        return store.add(rule.model_dump()).view()

    @app.delete("/admin/faults/{rule_id}", responses=not_found, tags=["admin"])
    def remove_fault(rule_id: str = Path(examples=["f1"])) -> RuleOut:
        """Remove one rule; the answer is the rule with its final counts."""
        return store.remove(rule_id).view()

    @app.delete("/admin/faults", tags=["admin"])
    def clear_faults() -> Cleared:
        return Cleared(status="cleared", service=store.service, removed=store.clear())


# ---- gRPC ----------------------------------------------------------------------------------------------

class FaultInterceptor(grpc.ServerInterceptor):
    """Latency, then the injected status, in the RPC's worker thread before the servicer runs."""

    def __init__(self, store: FaultStore) -> None:
        self.store = store

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or handler.request_streaming or handler.response_streaming \
                or not any(rule.match == method for rule in self.store.rules):
            return handler
        behavior, store = handler.unary_unary, self.store

        def faulty(request, context):
            delay, rule = store.decide("grpc", method)
            if delay:
                time.sleep(delay)
            if rule is not None:
                context.set_trailing_metadata([(REASON_KEY, INJECTED), (SERVICE_KEY, store.service),
                                               (RULE_KEY, rule.id)])
                context.abort(grpc.StatusCode[rule.grpc_code or "UNAVAILABLE"], rule.detail(store.service))
            return behavior(request, context)

        return grpc.unary_unary_rpc_method_handler(faulty, request_deserializer=handler.request_deserializer,
                                                   response_serializer=handler.response_serializer)
