"""Envoy configurations the lab generates: the API gateway, and a TCP balancer in front of replicas.

    from labs.components.gateway import config
    cfg = config.gateway(http_port=P, admin_port=A, services={"users": {"grpc": "127.0.0.1:Q"}, ...},
                         bff="http://127.0.0.1:R", jwks="jwks.json", descriptors="ticketing.pb")
    cfg = config.balancer(port=P, admin_port=A, replicas=["127.0.0.1:8080", "127.0.0.1:8081"])

Layer: components. Plain dicts in Envoy's v3 API (written as JSON, which Envoy reads like YAML).
Each listener, the admin interface included, binds 127.0.0.1. What the gateway does, filter by filter
in the order a request meets them:

    buffer               a body over `max_body_bytes` gets 413 before anything reads it
    grpc_web             gRPC-Web (a browser's framing) in, gRPC out
    jwt_authn            a token signed by the lab's issuer, for audience "ticketing", not expired
                         (clock skew `clock_skew_s`), or 401; its `sub` and `client_id` claims
                         become the x-user-id and x-client-id headers the services read
    local_ratelimit      per-client token buckets on the concerts catalogue (GET /v1/concerts/...)
    grpc_json_transcoder REST/JSON in, gRPC out, from the google.api.http options in ticketing.proto
    lua                  the gateway's spans for labs.trace (spans.lua)
    router               retries for idempotent reads, a circuit breaker per service

Routes: /v1/screens/... to the BFF (HTTP), /v1/<resource>... and /ticketing.v1.<Service>/... to each
service's gRPC port, /health answered by the gateway itself, anything else a JSON 404.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from ...runtime.ports import HOST
from .keys import AUDIENCE, ISSUER

HERE = Path(__file__).resolve().parent
LUA_SPANS = HERE / "spans.lua"

# resource path (REST) -> (service, its gRPC service name)
SERVICES = {
    "users": "ticketing.v1.Users",
    "concerts": "ticketing.v1.Concerts",
    "payments": "ticketing.v1.Payments",
    "notifications": "ticketing.v1.Notifications",
    "orders": "ticketing.v1.Orders",
}
# Idempotent reads: the only calls the gateway retries (a retried PlaceOrder could book twice).
READS = {"users": ("GetUser",), "concerts": ("GetConcert",), "notifications": ("List",), "orders": ("GetOrder",)}
USER_HEADER, CLIENT_HEADER, PAYLOAD_HEADER = "x-user-id", "x-client-id", "x-jwt-payload"
# Headers only the gateway may set: whatever a client sends under these names is dropped first.
TRUSTED_HEADERS = (USER_HEADER, CLIENT_HEADER, PAYLOAD_HEADER)
LIMITED_PREFIX = "/v1/concerts"  # the catalogue: the route a scraper or a runaway retry loop hammers

DEFAULTS: dict[str, Any] = {
    "rate_limit": 10,        # requests per client and window on the catalogue route; 0: no limit
    "rate_window_s": 10,     # the window: a client's bucket refills `rate_limit` tokens this often
    "rate_limit_rule": None,  # a whole local_ratelimit rule instead (exercise 08.1), see rate_limit_filter
    "retries": 2,            # extra attempts for an idempotent read that failed with UNAVAILABLE
    "max_requests": 16,      # circuit breaker: requests in flight to one service before 503 overflow
    "max_body_bytes": 16384,
    "clock_skew_s": 5,       # Envoy's default is 60: a token that expired 59 s ago would still pass
    "require_jwt": True,     # False: no token check at all (the tests' world without it)
}


def _any(type_name: str, **fields: Any) -> dict:
    return {"@type": f"type.googleapis.com/{type_name}", **fields}


def placeholder(component: str, key: str) -> str:
    """Where a dependency's address goes before it is known (launch.py fills it in)."""
    return f"@{component}.{key}"


def _address(host_port: str) -> dict:
    if host_port.startswith("@"):  # filled in by launch.py from LABS_DEPENDENCIES
        return {"socket_address": {"address": host_port + ":host", "port_value": host_port + ":port"}}
    host, port = host_port.removeprefix("http://").rstrip("/").rsplit(":", 1)
    return {"socket_address": {"address": host, "port_value": int(port)}}


def _admin(admin_port: int) -> dict:
    return {"address": {"socket_address": {"address": HOST, "port_value": admin_port}}}


# A cap on open client connections (Envoy warns at start when there is none).
OVERLOAD = {"resource_monitors": [{
    "name": "envoy.resource_monitors.global_downstream_max_connections",
    "typed_config": {"@type": "type.googleapis.com/envoy.extensions.resource_monitors.downstream_connections"
                              ".v3.DownstreamConnectionsConfig", "max_active_downstream_connections": 1000}}]}


def _json_response(status: int, body: dict) -> dict:
    return {"status": status, "body": {"inline_string": json.dumps(body)}}


def _cluster(name: str, address: str, http2: bool, max_requests: int) -> dict:
    cluster = {
        "name": name, "type": "STATIC", "connect_timeout": "1s",
        "load_assignment": {"cluster_name": name, "endpoints": [{"lb_endpoints": [
            {"endpoint": {"address": _address(address)}}]}]},
        # Envoy's "circuit breaker" is a cap on requests in flight (a bulkhead, lesson 03): past
        # it the gateway answers 503 at once instead of queueing more on a service that is behind.
        "circuit_breakers": {"thresholds": [{"max_requests": max_requests, "max_pending_requests": max_requests,
                                             "max_connections": max_requests, "max_retries": 3}]},
    }
    if http2:
        cluster["typed_extension_protocol_options"] = {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": _any(
                "envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                explicit_http_config={"http2_protocol_options": {}})}
    return cluster


def _route(name: str, match: dict, cluster: str, callee: str, retries: int = 0, timeout: str = "10s") -> dict:
    action: dict[str, Any] = {"cluster": cluster, "timeout": timeout}
    if retries:
        action["retry_policy"] = {"retry_on": "unavailable,reset,connect-failure,refused-stream",
                                  "num_retries": retries, "per_try_timeout": "3s"}
    return {"name": name, "match": match, "route": action,
            "metadata": {"filter_metadata": {"envoy.filters.http.lua": {"callee": callee}}}}


def _routes(services: dict[str, dict[str, str]], bff: str | None, options: dict) -> list[dict]:
    """Matched twice: filters before the transcoder (jwt_authn, local_ratelimit) see the REST path;
    the transcoder rewrites it to the gRPC method's and clears the route cache, so the router
    matches again on that path: retries are set on the gRPC routes of idempotent reads."""
    routes = [{"name": "health", "match": {"path": "/health"},
               "direct_response": _json_response(200, {"status": "ok", "component": "gateway"})}]
    if bff:
        routes.append(_route("screens", {"prefix": "/v1/screens/"}, "bff", "bff"))
    get = [{"name": ":method", "string_match": {"exact": "GET"}}]
    limit = rate_limit_filter(options)
    for name, full_name in SERVICES.items():
        if name not in services:
            continue
        if name == "concerts" and limit is not None:
            catalogue = _route("catalogue", {"path_separated_prefix": LIMITED_PREFIX, "headers": get}, name, name)
            catalogue["typed_per_filter_config"] = {"envoy.filters.http.local_ratelimit": limit}
            routes.append(catalogue)
        routes.append(_route(f"{name}-rest", {"path_separated_prefix": f"/v1/{name}"}, name, name))
        routes += [_route(f"{name}-read", {"path": f"/{full_name}/{method}"}, name, name, retries=options["retries"])
                   for method in READS.get(name, ())]
        routes.append(_route(f"{name}-grpc", {"prefix": f"/{full_name}/"}, name, name))
    known = ["/v1/" + n for n in services] + (["/v1/screens/..."] if bff else [])
    routes.append({"name": "unknown", "match": {"prefix": "/"}, "direct_response": _json_response(
        404, {"error": "no_route", "detail": "the gateway has no route for this path; it serves: "
                                             + ", ".join(known)})})
    return routes


def rate_limit_filter(options: dict) -> dict | None:
    """The local_ratelimit config of the catalogue route: the learner's rule (exercise 08.1) when
    given, else one token bucket per value of the client header: `rate_limit` tokens, refilled every
    `rate_window_s` seconds."""
    rule = options.get("rate_limit_rule")
    if rule is None:
        budget = options["rate_limit"]
        if not budget:
            return None
        rule = {
            "token_bucket": {"max_tokens": 100_000, "tokens_per_fill": 100_000, "fill_interval": "1s"},
            "rate_limits": [{"actions": [{"request_headers": {"header_name": CLIENT_HEADER,
                                                              "descriptor_key": "client"}}]}],
            # An empty value: one bucket per distinct client (up to max_dynamic_descriptors of them).
            "max_dynamic_descriptors": 10_000,
            "descriptors": [{"entries": [{"key": "client", "value": ""}],
                             "token_bucket": {"max_tokens": budget, "tokens_per_fill": budget,
                                              "fill_interval": f"{options['rate_window_s']}s"}}],
        }
    enabled = {"default_value": {"numerator": 100, "denominator": "HUNDRED"}, "runtime_key": "labs_rl"}
    return _any("envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit",
                stat_prefix="per_client", filter_enabled=enabled, filter_enforced=enabled,
                enable_x_ratelimit_headers="DRAFT_VERSION_03", **rule)


def _http_filters(jwks: str, descriptors: str, options: dict) -> list[dict]:
    providers = {"lab": {
        "issuer": ISSUER, "audiences": [AUDIENCE], "local_jwks": {"filename": str(jwks)},
        "forward": False, "forward_payload_header": PAYLOAD_HEADER,
        "claim_to_headers": [{"header_name": USER_HEADER, "claim_name": "sub"},
                             {"header_name": CLIENT_HEADER, "claim_name": "client_id"}],
        "clock_skew_seconds": options["clock_skew_s"],
    }}
    strip = "\n".join(f'  handle:headers():remove("{h}")' for h in TRUSTED_HEADERS)
    return [
        {"name": "envoy.filters.http.buffer", "typed_config": _any(
            "envoy.extensions.filters.http.buffer.v3.Buffer", max_request_bytes=options["max_body_bytes"])},
        {"name": "envoy.filters.http.grpc_web", "typed_config": _any(
            "envoy.extensions.filters.http.grpc_web.v3.GrpcWeb")},
        # A client must not be able to say who it is by sending the headers jwt_authn sets.
        {"name": "labs.strip_trusted_headers", "typed_config": _any(
            "envoy.extensions.filters.http.lua.v3.Lua",
            default_source_code={"inline_string": f"function envoy_on_request(handle)\n{strip}\nend\n"})},
        {"name": "envoy.filters.http.jwt_authn", "typed_config": _any(
            "envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication", providers=providers,
            rules=[{"match": {"path": "/health"}}] + (
                [{"match": {"prefix": "/"}, "requires": {"provider_name": "lab"}}] if options["require_jwt"] else []))},
        {"name": "envoy.filters.http.local_ratelimit", "typed_config": _any(
            "envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit", stat_prefix="per_client")},
        {"name": "envoy.filters.http.grpc_json_transcoder", "typed_config": _any(
            "envoy.extensions.filters.http.grpc_json_transcoder.v3.GrpcJsonTranscoder",
            proto_descriptor=str(descriptors), services=list(SERVICES.values()),
            print_options={"preserve_proto_field_names": True, "always_print_primitive_fields": True},
            convert_grpc_status=True,
            request_validation_options={"reject_unknown_query_parameters": True})},
        {"name": "envoy.filters.http.lua", "typed_config": _any(
            "envoy.extensions.filters.http.lua.v3.Lua", default_source_code={"filename": str(LUA_SPANS)})},
        {"name": "envoy.filters.http.router", "typed_config": _any(
            "envoy.extensions.filters.http.router.v3.Router")},
    ]


ACCESS_LOG = ("[%START_TIME(%T)%] %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% -> %REQ(:PATH)% %RESPONSE_CODE% "
              "%RESPONSE_FLAGS% route=%ROUTE_NAME% client=%REQ(X-CLIENT-ID)% grpc=%GRPC_STATUS% "
              "tries=%UPSTREAM_REQUEST_ATTEMPT_COUNT% %DURATION% ms\n")


def _access_log() -> list[dict]:
    """One line per request on stdout, so `lab.logs("gateway")` shows what it did (RL: rate limited,
    UO: circuit breaker overflow, UF: upstream connection failure)."""
    return [{"name": "envoy.access_loggers.stdout", "typed_config": _any(
        "envoy.extensions.access_loggers.stream.v3.StdoutAccessLog",
        log_format={"text_format_source": {"inline_string": ACCESS_LOG}})}]


def gateway(*, http_port: int, admin_port: int, services: dict[str, dict[str, str]], bff: str | None,
            jwks: str | Path, descriptors: str | Path, options: dict | None = None,
            name: str = "gateway") -> dict:
    """The API gateway's whole Envoy config (see the module docstring). Every answer carries
    `x-gateway: <name>`, so a client behind a balancer can tell which replica answered."""
    options = {**DEFAULTS, **(options or {})}
    manager = _any(
        "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
        stat_prefix="public", codec_type="AUTO", access_log=_access_log(),
        route_config={"name": "public", "virtual_hosts": [
            {"name": "ticketing", "domains": ["*"], "routes": _routes(services, bff, options),
             "response_headers_to_add": [{"header": {"key": "x-gateway", "value": name}}]}]},
        http_filters=_http_filters(str(jwks), str(descriptors), options))
    clusters = [_cluster(name, services[name]["grpc"], True, options["max_requests"])
                for name in SERVICES if name in services]
    if bff:
        clusters.append(_cluster("bff", bff, False, options["max_requests"]))
    return {
        "admin": _admin(admin_port), "overload_manager": OVERLOAD,
        "static_resources": {
            "listeners": [{"name": "public", "address": {"socket_address": {"address": HOST, "port_value": http_port}},
                           "filter_chains": [{"filters": [{"name": "envoy.filters.network.http_connection_manager",
                                                           "typed_config": manager}]}]}],
            "clusters": clusters,
        },
    }


def with_addresses(cfg: dict, address: str) -> dict:
    """`cfg` with every placeholder address replaced by `address` (to let Envoy check it early)."""
    text = json.dumps(cfg)
    host, port = address.rsplit(":", 1)
    text = re.sub(r'"@[\w.-]+:host"', json.dumps(host), text)
    return json.loads(re.sub(r'"@[\w.-]+:port"', port, text))


def balancer(*, port: int, admin_port: int, replicas: list[str], interval_s: float = 0.25) -> dict:
    """A second Envoy as a plain TCP balancer in front of gateway replicas ("127.0.0.1:P" each), with
    active health checks (GET /health every `interval_s`): a replica that stops answering leaves the
    rotation after one failed check, and a connection that cannot reach one is tried again (up to twice
    per replica: with several callers the next try may land on the dead one too)."""
    cluster = {
        "name": "gateways", "type": "STATIC", "connect_timeout": "0.25s", "lb_policy": "ROUND_ROBIN",
        "load_assignment": {"cluster_name": "gateways", "endpoints": [{"lb_endpoints": [
            {"endpoint": {"address": _address(r)}} for r in replicas]}]},
        "health_checks": [{"timeout": "0.2s", "interval": f"{interval_s}s", "unhealthy_threshold": 1,
                           "healthy_threshold": 1, "no_traffic_interval": f"{interval_s}s",
                           "http_health_check": {"path": "/health"}}],
    }
    proxy = _any("envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy", stat_prefix="edge",
                 cluster="gateways", max_connect_attempts=2 * len(replicas))
    return {
        "admin": _admin(admin_port), "overload_manager": OVERLOAD,
        "static_resources": {
            "listeners": [{"name": "edge", "address": {"socket_address": {"address": HOST, "port_value": port}},
                           "filter_chains": [{"filters": [{"name": "envoy.filters.network.tcp_proxy",
                                                           "typed_config": proxy}]}]}],
            "clusters": [cluster],
        },
    }
