"""Lesson 08, the gateway under strain: retries at the edge, load shedding, failover, and its cost.

    from labs.lessons import gateway_edge as edge
    edge.retries_hide_faults(lab, token, calls=100, error_rate=0.2, seed=8)   # direct vs via the gateway
    edge.overload(lab, token, concurrent=48, latency_ms=300)                 # circuit breaker overflow 503s
    run = edge.steady_load(url, token, seconds=3, action_at=1, action=kill)  # calls per 5 ms, one broken
    edge.plot_failover({"two replicas": run, ...})
    edge.hop_cost(lab, token, calls=200)                                     # REST->gRPC via Envoy vs direct

Layer: lessons. The fault rules (labs.clients.faults) are lesson 03's faults, here seen from the edge.
"""
from __future__ import annotations

import statistics
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable

import grpc
import httpx

from ..clients.faults import FaultRules
from ..clients.gateway import require_up, stats
from .gateway import burst
from ..protos import ticketing_pb2 as pb
from ..protos import ticketing_pb2_grpc as pb_grpc
from ..runtime import args
from ..tools import bench

GET_USER = "/ticketing.v1.Users/GetUser"
RETRY_PAUSE_S = 0.3  # a client retry waits a little longer than the balancer's health-check interval


def _bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {args.text('token', token, 4000)}"}


# ---- retries at the edge -----------------------------------------------------------------------------

@dataclass
class RetryTrial:
    calls: int
    direct_errors: int        # a client calling the users service itself saw these
    gateway_errors: int       # a client calling through the gateway saw these
    service_failed: int       # calls the users service failed on purpose, behind the gateway
    gateway_retries: int      # Envoy's upstream_rq_retry counter, during the trial

    def __repr__(self) -> str:
        return (f"<{self.calls} calls: direct {self.direct_errors} errors; through the gateway "
                f"{self.gateway_errors} errors, while users failed {self.service_failed} attempts and the "
                f"gateway retried {self.gateway_retries}>")


def retries_hide_faults(lab: Any, token: str, calls: int = 100, error_rate: float = 0.2,
                        seed: int = 8, gateway: str = "gateway") -> RetryTrial:
    """The same seeded fault on users' GetUser (UNAVAILABLE for `error_rate` of the calls), met
    twice: by a gRPC client of the service itself, and by a REST client of the gateway."""
    args.whole("calls", calls, 1, 10_000)
    args.number("error_rate", error_rate, 0, 1)
    require_up(lab, gateway)
    users = FaultRules(lab, "users")
    direct_errors = 0
    with users.injected(GET_USER, error_rate=error_rate, seed=seed), \
            grpc.insecure_channel(lab.endpoint("users")["grpc"]) as channel:
        stub = pb_grpc.UsersStub(channel)
        for _ in range(calls):
            try:
                stub.GetUser(pb.GetUserRequest(user_id="u1"), timeout=5)
            except grpc.RpcError:
                direct_errors += 1
    before = _counter(lab, "cluster.users.upstream_rq_retry", gateway)
    with users.injected(GET_USER, error_rate=error_rate, seed=seed) as rule, \
            httpx.Client(base_url=lab.endpoint(gateway)["http"], headers=_bearer(token), timeout=10) as api:
        gateway_errors = sum(api.get("/v1/users/u1").status_code != 200 for _ in range(calls))
    users.close()
    return RetryTrial(calls, direct_errors, gateway_errors, rule["failed"],
                      _counter(lab, "cluster.users.upstream_rq_retry", gateway) - before)


def _counter(lab: Any, name: str, gateway: str = "gateway") -> int:
    return stats(lab, gateway, name).get(name, 0)


# ---- load shedding -----------------------------------------------------------------------------------

@dataclass
class OverloadTrial:
    statuses: Counter
    overflow_ms: float            # median time to the 503s
    served_ms: float              # median time to the 200s
    gateway_overflow: int         # Envoy's overflow counters (requests in flight or queued), during the trial
    service_calls: int            # GetUser calls that reached users
    max_requests: int

    def __repr__(self) -> str:
        return (f"<{dict(self.statuses)}: 503 in {self.overflow_ms:.0f} ms, 200 in {self.served_ms:.0f} ms; "
                f"gateway overflow {self.gateway_overflow}, users received {self.service_calls}>")


def _overflow(lab: Any, gateway: str) -> int:
    """Requests the breaker refused: over max_requests in flight, or over max_pending_requests waiting
    for a connection (which is where they wait while the gateway is still opening them)."""
    counters = stats(lab, gateway, "cluster.users.upstream_rq_")
    return counters.get("cluster.users.upstream_rq_active_overflow", 0) + \
        counters.get("cluster.users.upstream_rq_pending_overflow", 0)


def overload(lab: Any, token: str, concurrent: int = 48, latency_ms: float = 300,
             max_requests: int = 16, gateway: str = "gateway") -> OverloadTrial:
    """`concurrent` calls at once to users' GetUser while it takes `latency_ms` each: the gateway lets
    `max_requests` (its circuit-breaker threshold) reach the service and answers the rest 503 at once."""
    args.whole("concurrent", concurrent, 1, 200)
    args.number("latency_ms", latency_ms, 0, 5000)
    require_up(lab, gateway)
    before = _overflow(lab, gateway)
    with FaultRules(lab, "users") as users, users.injected(GET_USER, added_latency_ms=latency_ms) as rule:
        answers = burst(lab.endpoint(gateway)["http"], {"all": (_bearer(token), concurrent)}, "/v1/users/u1",
                        per_sender=concurrent)["all"]
    shed = [a.ms for a in answers if a.status == 503] or [float("nan")]
    served = [a.ms for a in answers if a.status == 200] or [float("nan")]
    return OverloadTrial(Counter(a.status for a in answers), statistics.median(shed), statistics.median(served),
                         _overflow(lab, gateway) - before, rule["matched"], max_requests)


# ---- failover under steady load ---------------------------------------------------------------------

@dataclass
class LoadRun:
    """One call every `interval_s` for `seconds`: when each started, whether it worked, who answered."""
    label: str
    t: list[float] = field(default_factory=list)
    ok: list[bool] = field(default_factory=list)
    replica: list[str] = field(default_factory=list)
    errors: Counter = field(default_factory=Counter)  # why the failed calls failed
    retried: int = 0
    action_at: float | None = None      # when the action was due ...
    action_done: float | None = None    # ... and when it had happened (a busy machine is late)

    def after_action(self) -> list[bool]:
        """ok/failed of the calls that started once the action had happened."""
        if self.action_done is None:
            raise ValueError("this run had no action")
        return [ok for t, ok in zip(self.t, self.ok) if t >= self.action_done]

    @property
    def calls(self) -> int:
        return len(self.ok)

    @property
    def failed(self) -> int:
        return self.ok.count(False)

    @property
    def failed_per_1000(self) -> float:
        return 1000 * self.failed / max(self.calls, 1)

    def __repr__(self) -> str:
        who = dict(Counter(r for r in self.replica if r))
        why = f" ({dict(self.errors)})" if self.errors else ""
        return (f"<{self.label}: {self.calls} calls, {self.failed} failed{why}, {self.retried} retried; "
                f"answered by {who}>")


def steady_load(url: str, token: str, seconds: float = 3.0, callers: int = 4, interval_s: float = 0.01,
                action_at: float | None = None, action: Callable[[], Any] | None = None,
                client_retry: bool = False, label: str = "run", path: str = "/v1/users/u1") -> LoadRun:
    """`callers` clients each call `url` + `path` every `interval_s` for `seconds`, while `action`
    (e.g. killing a gateway) runs `action_at` seconds in. Each call opens its own connection, as calls
    from many different phones would, so a balancer spreads them. With `client_retry`, a call that
    fails is tried once more 0.3 s later, after the balancer's next health check (lesson 03's retry with
    a pause), before it counts as failed."""
    args.positive_seconds("seconds", seconds, 120)
    args.whole("callers", callers, 1, 64)
    args.positive_seconds("interval_s", interval_s, 10)
    run = LoadRun(label, action_at=action_at)
    rows: list[tuple[float, bool, str, bool]] = []
    errors: Counter = Counter()
    lock = threading.Lock()
    started = time.perf_counter()

    def caller() -> None:
        with httpx.Client(base_url=url, headers=_bearer(token), timeout=5,
                          limits=httpx.Limits(max_keepalive_connections=0)) as api:
            while (now := time.perf_counter() - started) < seconds:
                ok, replica = _one_call(api, path)
                retried = not ok and client_retry
                if retried:
                    time.sleep(RETRY_PAUSE_S)
                    ok, replica = _one_call(api, path)
                if not ok:
                    with lock:
                        errors[replica] += 1
                with lock:
                    rows.append((now, ok, replica, retried))
                time.sleep(max(0.0, interval_s - (time.perf_counter() - started - now)))

    def act() -> None:
        action()
        run.action_done = time.perf_counter() - started

    threads = [threading.Thread(target=caller, name=f"load-{i}") for i in range(callers)]
    if action is not None and action_at is not None:
        threads.append(threading.Timer(args.seconds("action_at", action_at, 0, seconds), act))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for now, ok, replica, retried in sorted(rows):
        run.t.append(now)
        run.ok.append(ok)
        run.replica.append(replica if ok else "")
        run.retried += retried
    run.errors = errors
    return run


def _one_call(api: httpx.Client, path: str) -> tuple[bool, str]:
    """(worked, who answered) or (False, why not)."""
    try:
        answer = api.get(path)
    except httpx.HTTPError as err:
        return False, type(err).__name__
    if answer.status_code != 200:
        return False, f"HTTP {answer.status_code}"
    return True, answer.headers.get("x-gateway", "")


def plot_failover(runs: dict[str, LoadRun]):
    """One row per run: a dot per call, coloured by the replica that answered; failed calls in red."""
    import matplotlib.pyplot as plt

    colours = {"gateway": "#4c72b0", "gateway-2": "#55a868", "": "#c44e52"}
    fig, ax = plt.subplots(figsize=(9, 0.9 + 0.7 * len(runs)))
    for row, (label, run) in enumerate(runs.items()):
        for who in colours:
            xs = [t for t, ok, r in zip(run.t, run.ok, run.replica) if (r if ok else "") == who]
            if xs:
                ax.scatter(xs, [row] * len(xs), s=6, color=colours[who],
                           label=(who or "failed") if row == 0 or who == "" else None)
        if run.action_done is not None:
            ax.axvline(run.action_done, color="#888", lw=0.8, ls="--")
    ax.set_yticks(range(len(runs)), [f"{k}\n{v.failed} failed" for k, v in runs.items()])
    ax.set_xlabel("seconds into the run (dashed: a gateway is killed)")
    handles, labels = ax.get_legend_handles_labels()
    ax.legend(dict(zip(labels, handles)).values(), dict(zip(labels, handles)).keys(), loc="upper right",
              fontsize=8, markerscale=3)
    ax.invert_yaxis()
    fig.tight_layout()
    return fig


# ---- what the hop costs ------------------------------------------------------------------------------

def hop_cost(lab: Any, token: str, calls: int = 200) -> dict[str, Any]:
    """One GetUser three ways, `calls` times each (bench.measure: after a warm-up, one connection
    each): REST->gRPC through the gateway, gRPC to the service directly, REST to the service directly."""
    args.whole("calls", calls, 10, 100_000)
    with httpx.Client(base_url=require_up(lab), headers=_bearer(token), timeout=5) as via, \
            httpx.Client(base_url=lab.endpoint("users")["http"], timeout=5) as rest, \
            grpc.insecure_channel(lab.endpoint("users")["grpc"]) as channel:
        stub = pb_grpc.UsersStub(channel)
        ways = {"REST -> gateway -> gRPC": lambda: via.get("/v1/users/u1").raise_for_status(),
                "gRPC, direct": lambda: stub.GetUser(pb.GetUserRequest(user_id="u1"), timeout=5),
                "REST, direct": lambda: rest.get("/users/u1").raise_for_status()}
        return {way: bench.measure(call, n=calls, label=way) for way, call in ways.items()}


def plot_hop_cost(runs: dict[str, Any]):
    import matplotlib.pyplot as plt

    medians = {way: run.median_ms for way, run in runs.items()}
    fig, ax = plt.subplots(figsize=(8, 2.2))
    names = list(medians)
    bars = ax.barh(names, [medians[n] for n in names], color=["#c44e52", "#55a868", "#4c72b0"])
    ax.bar_label(bars, fmt="%.2f ms", padding=3)
    ax.set_xlabel("median ms per GetUser call (one client, one connection)")
    ax.set_xlim(0, max(medians.values()) * 1.35)
    ax.invert_yaxis()
    fig.tight_layout()
    return fig
