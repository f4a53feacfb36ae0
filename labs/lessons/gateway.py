"""Lesson 08, the gateway's front door: translation, tokens, per-client limits, the BFF, bad input.

    from labs.lessons import gateway
    gateway.rest_paths()                                   # REST path -> gRPC method, from the .proto
    gateway.bytes_each_side(run)                           # JSON outside vs protobuf inside, from a trace
    gateway.curl_command(lab, token, "/v1/concerts/c1")    # the same call for a terminal
    gateway.try_tokens(lab, {"valid": t, "forged": f})     # status per token, and did it reach the BFF
    gateway.two_clients(lab, token_a, token_b)             # A sends 3x its budget while B sends its own
    gateway.screen_timings(lab, token, "o1")               # the order screen: 3 requests vs the BFF
    gateway.bad_inputs(lab, token)                         # malformed JSON, unknown route, big body
    gateway.grpc_web_vs_direct(lab, token)                 # gRPC-Web via the gateway, then to the gRPC port

Layer: lessons. Lesson 05 points here for a real gRPC-Web call (`grpc_web_vs_direct`). The retries,
the circuit breaker, failover and the gateway's cost are in labs.lessons.gateway_edge.
"""
from __future__ import annotations

import contextlib
import shlex
import statistics
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Iterator

import httpx

from ..clients import grpcweb
from ..clients.faults import FaultRules
from ..clients.gateway import client, issuer, require_up, stats
from ..runtime import args

LIMITED = "/v1/concerts/c1"  # on the catalogue route, which has the per-client limit
SCREEN_CALLS = {"orders": "/ticketing.v1.Orders/GetOrder", "users": "/ticketing.v1.Users/GetUser",
                "notifications": "/ticketing.v1.Notifications/List"}


# ---- REST outside, gRPC inside ------------------------------------------------------------------

def rest_paths() -> list[dict[str, str]]:
    """Each REST path the gateway serves and the gRPC method it becomes, read from the
    `google.api.http` options compiled into the ticketing stubs."""
    from google.api import annotations_pb2

    from ..protos import ticketing_pb2

    rows = []
    for service in ticketing_pb2.DESCRIPTOR.services_by_name.values():
        for method in service.methods:
            rule = method.GetOptions().Extensions[annotations_pb2.http]
            verb = rule.WhichOneof("pattern")
            if verb:
                rows.append({"verb": verb.upper(), "path": getattr(rule, verb),
                             "grpc": f"/{service.full_name}/{method.name}"})
    return rows


def bytes_each_side(run: Any) -> dict[str, dict[str, Any]]:
    """From a trace of one call through the gateway: the client's call (JSON) and the gateway's
    call to the service (protobuf), with their payload bytes."""
    spans = run.spans
    outside = next((s for s in spans if s.get("callee") == "gateway"), None)
    inside = next((s for s in spans if s.get("caller") == "gateway"), None)
    if outside is None or inside is None:
        raise ValueError("the run has no call to the gateway and from it: record a call through the gateway")

    def side(span: dict) -> dict[str, Any]:
        return {"call": span["operation"], "transport": span["transport"], "request_bytes": span["request_bytes"],
                "response_bytes": span["response_bytes"]}

    return {"outside (client -> gateway)": side(outside), "inside (gateway -> service)": side(inside)}


def curl_command(lab: Any, token: str, path: str, method: str = "GET", body: str | None = None) -> str:
    """The same REST call as a shell command: any HTTP client can use the gateway."""
    url = lab.endpoint("gateway")["http"] + args.text("path", path)
    parts = ["curl", "-s", "-X", method, url, "-H", f"authorization: Bearer {token}"]
    if body is not None:
        parts += ["-H", "content-type: application/json", "-d", body]
    return shlex.join(parts)


# ---- counting at the service --------------------------------------------------------------------

@contextlib.contextmanager
def counting(lab: Any, service: str, match: str) -> Iterator[dict[str, Any]]:
    """Count the calls `service` itself receives on one route or gRPC method during the block (a fault
    rule that fails nothing: the service counts every call it matches). `["matched"]` after the block."""
    with FaultRules(lab, service) as rules, rules.injected(match, error_rate=0.0) as rule:
        yield rule


# ---- tokens at the edge ---------------------------------------------------------------------------

def try_tokens(lab: Any, tokens: dict[str, str | None], path: str = "/v1/screens/me", gateway: str = "gateway"):
    """Send one request per token (None: no Authorization header) through the gateway to the BFF;
    a table of what the gateway answered and how many calls reached the BFF."""
    import pandas as pd

    rows = []
    with client(lab, name=gateway) as api:
        for case, token in tokens.items():
            headers = {} if token is None else {"authorization": f"Bearer {token}"}
            with counting(lab, "bff", f"GET {path}") as seen:
                answer = api.get(path, headers=headers)
            rows.append({"token": case, "status": answer.status_code, "gateway said": answer.text[:70],
                         "reached the service": seen["matched"]})
    return pd.DataFrame(rows).set_index("token")


def straight_to_the_bff(lab: Any, pretend_user: str) -> httpx.Response:
    """The BFF's own port, bypassing the gateway, with a made-up identity header: what anyone who
    can reach that port can do."""
    return httpx.get(lab.endpoint("bff")["http"] + "/v1/screens/me", headers={"x-user-id": pretend_user},
                     timeout=5)


# ---- a limit per client ----------------------------------------------------------------------------

@dataclass
class Answer:
    status: int
    ms: float
    headers: dict[str, str]


def burst(url: str, senders: dict[str, tuple[dict[str, str], int]], path: str, per_sender: int = 10,
          ) -> dict[str, list[Answer]]:
    """Every sender {name: (headers, calls)} fires its calls at `url` + `path` at the same moment,
    `per_sender` in flight each. Each worker thread has its own client and an open connection before
    the start (httpx does not promise that one client is safe across threads)."""
    jobs = [(name, headers, n // per_sender + (i < n % per_sender))
            for name, (headers, n) in senders.items() for i in range(min(per_sender, n))]
    start = threading.Barrier(len(jobs))
    answers: dict[str, list[Answer]] = {name: [] for name in senders}
    lock = threading.Lock()

    def worker(name: str, headers: dict[str, str], calls: int) -> None:
        with httpx.Client(base_url=url, headers=headers, timeout=10, verify=False) as api:
            api.get("/health")
            start.wait(timeout=60)
            for _ in range(calls):
                began = time.perf_counter()
                answer = api.get(path)
                got = Answer(answer.status_code, (time.perf_counter() - began) * 1000, dict(answer.headers))
                with lock:
                    answers[name].append(got)

    with ThreadPoolExecutor(len(jobs)) as pool:
        for future in [pool.submit(worker, *job) for job in jobs]:
            future.result()
    return answers


@dataclass
class RateLimitTrial:
    statuses: dict[str, Counter]       # client -> {status: count}
    limit_headers: dict[str, str]       # the rate-limit headers of one 429
    gateway_limited: int                # Envoy's own count of 429s (admin /stats), during the trial
    service_calls: int                  # GetConcert calls the concerts service received
    seconds: float

    def passed(self, client_name: str) -> int:
        return self.statuses[client_name][200]

    def refused(self, client_name: str) -> int:
        return self.statuses[client_name][429]

    def __repr__(self) -> str:
        parts = [f"{c}: {self.passed(c)} ok / {self.refused(c)} x 429" + "".join(
                 f" / {n} x {status}" for status, n in counts.items() if status not in (200, 429))
                 for c, counts in self.statuses.items()]
        return (f"<{'; '.join(parts)} in {self.seconds:.2f} s; gateway counted {self.gateway_limited} "
                f"limited, concerts received {self.service_calls}>")


def two_clients(lab: Any, tokens: dict[str, str], calls: dict[str, int], base_url: str | None = None,
                gateway: str = "gateway", path: str = LIMITED) -> RateLimitTrial:
    """Every client sends its number of calls at the same time (5 in flight each); statuses per
    client, counted at the gateway (its stats) and at the concerts service."""
    if set(tokens) != set(calls):
        raise ValueError(f"tokens and calls must name the same clients, got {sorted(tokens)} and {sorted(calls)}")
    for name, n in calls.items():
        args.whole(f"calls[{name!r}]", n, 1, 1000)
    url = base_url or require_up(lab, gateway)
    before = _limited(lab, gateway, base_url)
    with counting(lab, "concerts", "/ticketing.v1.Concerts/GetConcert") as seen:
        started = time.perf_counter()
        # 5 in flight per client: with two clients that stays under the breaker's 16 (a 503 is not a 429)
        answers = burst(url, {name: ({"authorization": f"Bearer {tokens[name]}"}, calls[name]) for name in tokens},
                        path, per_sender=5)
        seconds = time.perf_counter() - started
    refused = [a for rs in answers.values() for a in rs if a.status == 429]
    headers = {k: v for k, v in refused[0].headers.items() if k.startswith("x-ratelimit")} if refused else {}
    return RateLimitTrial({n: Counter(a.status for a in rs) for n, rs in answers.items()}, headers,
                          _limited(lab, gateway, base_url) - before, seen["matched"], seconds)


def _limited(lab: Any, gateway: str, base_url: str | None) -> int:
    if base_url is not None:  # a trial gateway: its stats are read by the caller
        return 0
    return stats(lab, gateway, "per_client.http_local_rate_limit.rate_limited").get(
        "per_client.http_local_rate_limit.rate_limited", 0)


# ---- the BFF ---------------------------------------------------------------------------------------

@dataclass
class ScreenTimings:
    ms: dict[str, float]                 # way -> median milliseconds for the whole screen, at the phone
    requests: dict[str, int]             # way -> requests the app sent
    latency_ms: float
    rtt_ms: float
    backend_ms: dict[str, float] = field(default_factory=dict)  # BFF ways: its three calls, its own clock

    def plot(self):
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(8, 2.6))
        names = list(self.ms)
        bars = ax.barh(names, [self.ms[n] for n in names], color=["#c44e52", "#dd8452", "#55a868"][:len(names)])
        ax.bar_label(bars, labels=[f"{self.ms[n]:.0f} ms, {self.requests[n]} request(s)" for n in names], padding=3)
        ax.set_xlabel(f"the order screen, median ms (each service +{self.latency_ms:.0f} ms, "
                      f"phone network {self.rtt_ms:.0f} ms a request)")
        ax.invert_yaxis()
        ax.set_xlim(0, max(self.ms.values()) * 1.45)
        fig.tight_layout()
        return fig


def screen_timings(lab: Any, token: str, order_id: str, user_id: str = "u1", latency_ms: float = 40,
                   rtt_ms: float = 50, rounds: int = 5) -> ScreenTimings:
    """The order screen three ways, each service slowed by `latency_ms` (fault rules) and every request
    of the app delayed by `rtt_ms` (a chaos proxy in front of the gateway, standing for a phone's
    network): the app's three requests in turn (lesson 04), the BFF asking in sequence, the BFF in parallel."""
    from ..clients import chaos

    args.number("latency_ms", latency_ms, 0, 1000)
    args.number("rtt_ms", rtt_ms, 0, 1000)
    args.whole("rounds", rounds, 1, 50)
    require_up(lab)
    phone = chaos.proxy(lab, "gateway")
    paths = {"the app's 3 requests, in turn": [f"/v1/orders/{order_id}", f"/v1/users/{user_id}",
                                                f"/v1/notifications?user_id={user_id}"],
             "BFF, 3 calls in sequence": [f"/v1/screens/orders/{order_id}?sequential=true"],
             "BFF, 3 calls in parallel": [f"/v1/screens/orders/{order_id}"]}
    ms: dict[str, list[float]] = {way: [] for way in paths}
    backend: dict[str, list[float]] = {way: [] for way in paths if way.startswith("BFF")}
    with contextlib.ExitStack() as stack:
        for service, method in SCREEN_CALLS.items():
            rules = stack.enter_context(FaultRules(lab, service))
            stack.enter_context(rules.injected(method, added_latency_ms=latency_ms))
        stack.enter_context(phone.toxic("latency", latency=rtt_ms))
        api = stack.enter_context(httpx.Client(base_url=phone.url_for(), timeout=10,
                                               headers={"authorization": f"Bearer {token}"}))
        api.get("/health")
        for _ in range(rounds):
            for way, requests in paths.items():
                started = time.perf_counter()
                for path in requests:
                    answer = api.get(path).raise_for_status()
                ms[way].append((time.perf_counter() - started) * 1000)
                if way in backend:
                    backend[way].append(answer.json()["backend_ms"])
    return ScreenTimings({w: statistics.median(v) for w, v in ms.items()}, {w: len(p) for w, p in paths.items()},
                         latency_ms, rtt_ms, {w: statistics.median(v) for w, v in backend.items()})


# ---- bad input ---------------------------------------------------------------------------------------

def bad_inputs(lab: Any, token: str, max_body_bytes: int = 16384):
    """What the gateway answers to requests that do not fit its API: a table with status and time."""
    import pandas as pd

    json_header = {"content-type": "application/json"}
    cases = {
        "malformed JSON": ("POST", "/v1/orders", {"content": b'{"user_id": "u1", "concert_id": ', "headers": json_header}),
        "unknown route": ("GET", "/v1/tickets/t1", {}),
        "oversized body": ("POST", "/v1/orders", {"content": b"x" * (max_body_bytes * 4), "headers": json_header}),
        "wrong type in JSON": ("POST", "/v1/users/u1/debit", {"json": {"amount": "forty"}}),
        "unknown query parameter": ("GET", "/v1/notifications?user=u1", {}),
    }
    rows = []
    with client(lab, token) as api:
        for case, (method, path, extra) in cases.items():
            started = time.perf_counter()
            answer = api.request(method, path, **extra)
            rows.append({"input": case, "request": f"{method} {path}", "status": answer.status_code,
                         "ms": round((time.perf_counter() - started) * 1000, 1),
                         "gateway said": " ".join(answer.text.split())[:80]})
    return pd.DataFrame(rows).set_index("input")


# ---- gRPC-Web -------------------------------------------------------------------------------------------

@dataclass
class GrpcWebTrial:
    through_gateway: grpcweb.GrpcWebAnswer
    to_grpc_port: grpcweb.GrpcWebAnswer
    notes: list[str] = field(default_factory=list)


def grpc_web_vs_direct(lab: Any = None, token: str | None = None, concert_id: str = "c1") -> GrpcWebTrial:
    """The same gRPC-Web call (Connect's browser transport over fetch) twice: to the gateway, whose
    grpc_web filter turns it into gRPC, and straight to the concerts service's gRPC port. With no
    lab, starts the gateway (lesson 05 can call this as it is)."""
    import labs

    lab = lab if lab is not None and "gateway" in getattr(lab, "names", ()) else labs.start("gateway")
    require_up(lab)
    token = token or issuer().token("u1", client_id="browser")
    request = {"concert_id": args.text("concert_id", concert_id)}
    via = grpcweb.call(lab.endpoint("gateway")["http"], "ticketing.v1.Concerts", "GetConcert", request,
                       headers={"authorization": f"Bearer {token}"})
    direct = grpcweb.call("http://" + lab.endpoint("concerts")["grpc"], "ticketing.v1.Concerts", "GetConcert",
                          request)
    return GrpcWebTrial(via, direct)
