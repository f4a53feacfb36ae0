"""L7 fault rules, the definition both sides share: what a rule is and the checks that refuse a bad
one with a message naming the allowed range. The service applies rules (services/faults.py); the
lessons' client, `labs.clients.faults.FaultRules`, sends them. Both check with these functions, so a
rule is refused the same way on either side (ValueError in the client, 422 from the service).

Layer: components (the ticketing services' own contract; imports nothing of the lab's).

A rule matches one HTTP route, "METHOD /path-template" exactly as the service's OpenAPI names it
("GET /users/{user_id}"), or one gRPC method ("/ticketing.v1.Payments/Charge"). On every matching
call, before the handler runs, the service waits `added_latency_ms`, then fails the call with
probability `error_rate`: with `http_status` (REST, default 503) or `grpc_code` (gRPC, default
UNAVAILABLE). A `seed` makes the pass/fail sequence repeatable. Injected errors say so: the REST
body is {"error": "injected_fault", "rule": ..., ...}, the gRPC trailers carry x-labs-reason:
injected_fault, so a lesson can tell an injected failure from a real one. /health and /admin/*
are never faulted, so a rule cannot lock a lesson out of removing it.
"""

from __future__ import annotations

import math
import re
from typing import Any


MAX_LATENCY_MS = 60_000
MAX_SEED = 2**63 - 1
HTTP_STATUS_RANGE = (400, 599)
HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
HTTP_MATCH = re.compile(r"^(GET|POST|PUT|PATCH|DELETE) (/[^\s?#]*)$")
GRPC_MATCH = re.compile(r"^/[A-Za-z_][\w.]*/[A-Za-z_]\w*$")
INJECTED = "injected_fault"  # the `error` of an injected REST answer, the reason trailer of a gRPC one


def grpc_code_names() -> list[str]:
    import grpc
    return [code.name for code in grpc.StatusCode if code is not grpc.StatusCode.OK]


# ---- checks shared by the client (ValueError) and the service (422) ---------------------------------

def check_match(match: Any) -> str:
    """'transport' of a well-formed match ("http" or "grpc"); ValueError naming the two forms."""
    if isinstance(match, str):
        if HTTP_MATCH.fullmatch(match):
            return "http"
        if GRPC_MATCH.fullmatch(match):
            return "grpc"
    raise ValueError(f"match must be an HTTP route \"METHOD /path-template\" with METHOD one of "
                     f"{', '.join(HTTP_METHODS)} (e.g. \"POST /payments\", \"GET /users/{{user_id}}\"), "
                     f"or a gRPC method \"/package.Service/Method\" (e.g. \"/ticketing.v1.Payments/Charge\"); "
                     f"got {match!r}")


def _number(name: str, value: Any, low: float, high: float, unit: str = "") -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not low <= value <= high:
        raise ValueError(f"{name} must be a number from {low:g} to {high:g}{unit}; got {value!r}")
    return value


def check_error_rate(value: Any) -> float:
    return float(_number("error_rate", value, 0, 1, " (the fraction of matching calls to fail)"))


def check_latency(value: Any) -> float:
    return float(_number("added_latency_ms", value, 0, MAX_LATENCY_MS, " milliseconds"))


def check_http_status(value: Any) -> int | None:
    low, high = HTTP_STATUS_RANGE
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high):
        raise ValueError(f"http_status must be a whole number from {low} to {high} (an HTTP error status); "
                         f"got {value!r}")
    return value


def check_grpc_code(value: Any) -> str | None:
    if value is not None and (not isinstance(value, str) or value not in grpc_code_names()):
        raise ValueError(f"grpc_code must be the name of a grpc.StatusCode other than OK, one of "
                         f"{', '.join(grpc_code_names())}; got {value!r}")
    return value


def check_seed(value: Any) -> int | None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_SEED):
        raise ValueError(f"seed must be a whole number from 0 to 2**63-1, or None for a random sequence; "
                         f"got {value!r}")
    return value


def check_rule(match: Any, error_rate: Any = 0.0, http_status: Any = None, grpc_code: Any = None,
               added_latency_ms: Any = 0.0, seed: Any = None) -> dict[str, Any]:
    """The rule as the service stores it; ValueError naming the allowed range of the first bad field."""
    check_match(match)
    rule = {"match": match, "error_rate": check_error_rate(error_rate), "http_status": check_http_status(http_status),
            "grpc_code": check_grpc_code(grpc_code), "added_latency_ms": check_latency(added_latency_ms),
            "seed": check_seed(seed)}
    if rule["error_rate"] == 0 and (http_status is not None or grpc_code is not None):
        raise ValueError("an http_status or grpc_code has no effect with error_rate 0: give error_rate "
                         "from 0 to 1 (1.0 fails every matching call)")
    return rule
