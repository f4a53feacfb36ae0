"""Lesson 03's resilience experiments on the real users service: retry waves with and without jitter,
a retry storm against a budget, a breaker under faults, bulkheads, timeouts and deadlines.

    from labs.lessons import resilience as rx
    rx.retry_storm(lab, requests=50, attempts=4)          # calls that reached users, per request

Each puts its fault on `GET /users/{user_id}` with FaultRules, so the service itself counts the calls
that reached it (a rule's `matched`): what a retry storm does to a dependency is measured there.

Layer: lessons (the policies themselves are labs.tools.resilience).
"""
from __future__ import annotations

import threading
import time
from concurrent.futures import Future

from typing import Any, Callable, Sequence

from ..runtime import args
from ..tools.resilience import (MAX_POOL, MAX_WAIT_S, AttemptLog, Bulkhead, BulkheadFull, RecordedBreaker,
                                RetryBudget, call_with_fallback, clock, retrying)

USERS_ROUTE = "GET /users/{user_id}"


def users_client(lab: Any, timeout: float | None = 5.0, base_url: str | None = None):
    """A plain httpx client of the users service (or of a proxy in front of it)."""
    import httpx
    return httpx.Client(base_url=base_url or lab.endpoint("users")["http"], timeout=timeout)


def get_user(client: Any, user_id: str = "u1") -> dict:
    """One real call; a 5xx raises httpx.HTTPStatusError, like a refused or timed-out call raises its error."""
    response = client.get(f"/users/{user_id}")
    response.raise_for_status()
    return response.json()


def retry_waves(lab: Any, jitter: bool, clients: int = 10, attempts: int = 4, base: float = 0.1,
                seed: int = 3) -> AttemptLog:
    """`clients` threads call users at the same moment while the link to it is down (a chaos proxy
    refusing connections), each retrying with exponential backoff, with or without full jitter.
    Returns when each attempt started. A refused connection fails in microseconds, so any spread
    between the clients comes from the waits, not from a busy server answering them one by one."""
    import httpx

    from ..clients import chaos

    args.whole("clients", clients, 2, 100)
    log = AttemptLog("full jitter" if jitter else "no jitter")
    go = threading.Barrier(clients + 1)

    def one_client(i: int) -> None:
        policy = retrying(attempts, base=base, cap=MAX_WAIT_S, jitter=jitter, retry_on=httpx.HTTPError, log=log,
                          seed=seed * 1000 + i)
        go.wait()
        try:
            policy(get_user, session)
        except httpx.HTTPError:
            pass

    proxy = chaos.proxy(lab, "users", name="users-retry-waves")
    # One httpx client serves every thread (it is thread-safe): a client each would cost ~50 ms apiece.
    with users_client(lab, base_url=proxy.url_for()) as session, proxy.down():
        threads = [threading.Thread(target=one_client, args=(i,), daemon=True) for i in range(clients)]
        for thread in threads:
            thread.start()
        log.started = clock()
        go.wait()
        for thread in threads:
            thread.join()
    return log


def retry_storm(lab: Any, requests: int = 100, attempts: int = 4, budget: RetryBudget | None = None,
                error_rate: float = 1.0, seed: int = 5) -> dict[str, Any]:
    """`requests` calls to a users service failing `error_rate` of the time, each retried up to
    `attempts` tries (immediately: the naive way), within `budget` if given. The amplification is
    the calls the service counted divided by the requests made."""
    import httpx

    from ..clients.faults import FaultRules

    args.whole("requests", requests, 1, 100_000)
    policy = retrying(attempts, base=0, jitter=False, retry_on=httpx.HTTPError, budget=budget)
    succeeded = 0
    with users_client(lab) as client, FaultRules(lab, "users") as faults:
        with faults.injected(USERS_ROUTE, error_rate=error_rate, http_status=503, seed=seed) as rule:
            for _ in range(requests):
                try:
                    policy(get_user, client)
                    succeeded += 1
                except httpx.HTTPError:
                    pass
    return {"requests": requests, "calls_at_server": rule["matched"], "amplification": rule["matched"] / requests,
            "succeeded": succeeded, "budget": repr(budget) if budget else "none"}


def breaker_under_faults(lab: Any, breaker: RecordedBreaker, faults: Sequence[tuple[float, float]] = ((0.5, 1.7),),
                         duration: float = 2.8, every: float = 0.02) -> dict[str, Any]:
    """Call users every `every` seconds for `duration` seconds through `breaker`, with a fallback
    (the last answer seen), while users fails every call inside the `faults` windows (seconds from
    the start). Counts what the caller got and what reached users while it failed."""
    from ..clients.faults import FaultRules

    args.seconds("duration", duration, 0.1, 60)
    args.seconds("every", every, 0.001, 10)
    last_good: dict = {}
    answered = fallbacks = attempted_in_faults = reached_in_faults = 0
    with users_client(lab, timeout=1.0) as client, FaultRules(lab, "users") as rules:
        last_good.update(get_user(client))
        breaker.started = clock()
        breaker.states[:] = [(0.0, breaker.state)]
        breaker.calls.clear()
        rule_id = None
        while (now := clock() - breaker.started) < duration:
            failing = any(since <= now < until for since, until in faults)
            if failing and rule_id is None:
                rule_id = rules.add(USERS_ROUTE, error_rate=1.0, http_status=503)
            elif not failing and rule_id is not None:
                reached_in_faults += rules.remove(rule_id)["matched"]
                rule_id = None
            attempted_in_faults += failing
            answer, used_fallback = call_with_fallback(lambda: breaker.call(get_user, client),
                                                       lambda exc: dict(last_good, stale=True))
            answered += bool(answer)
            fallbacks += used_fallback
            if not used_fallback:
                last_good = answer
            time.sleep(max(0.0, every - (clock() - breaker.started - now)))
        if rule_id is not None:
            reached_in_faults += rules.remove(rule_id)["matched"]
    calls = len(breaker.calls)
    return {"calls": calls, "answered": answered, "fallbacks": fallbacks, "calls_while_failing": attempted_in_faults,
            "reached_users_while_failing": reached_in_faults, "states": breaker.states_seen()}


def bulkhead_demo(lab: Any, isolated: bool, slow_calls: int = 8, fast_calls: int = 6, threads: int = 4,
                  slow_ms: float = 500) -> dict[str, Any]:
    """A caller with `threads` threads for calls to users (made slow: `slow_ms` each) and to concerts
    (fast). Shared: one pool for both. Isolated: a bulkhead each, half the threads each, and users'
    calls beyond its pool and one waiting round refused at once. Returns each call's time from
    submit to answer (queueing included), in ms."""
    from ..clients.faults import FaultRules

    args.whole("threads", threads, 2, MAX_POOL)
    timings: dict[str, list[float]] = {"users": [], "concerts": []}
    refused = 0
    with users_client(lab) as users, users_client(lab, base_url=lab.endpoint("concerts")["http"]) as concerts, \
            FaultRules(lab, "users") as rules, rules.injected(USERS_ROUTE, added_latency_ms=slow_ms):
        if isolated:
            pools = {"users": Bulkhead("users", threads // 2, max_waiting=threads // 2),
                     "concerts": Bulkhead("concerts", threads - threads // 2, max_waiting=1000)}
        else:
            shared = Bulkhead("shared", threads, max_waiting=1000)
            pools = {"users": shared, "concerts": shared}

        def timed(kind: str, call: Callable[[], Any]) -> Future | None:
            submitted = clock()
            try:
                future = pools[kind].submit(call)
            except BulkheadFull:
                return None
            future.add_done_callback(lambda _: timings[kind].append((clock() - submitted) * 1e3))
            return future

        futures = [timed("users", lambda: users.get("/users/u1")) for _ in range(slow_calls)]
        futures += [timed("concerts", lambda: concerts.get("/concerts/c1")) for _ in range(fast_calls)]
        refused = futures.count(None)
        for future in futures:
            if future is not None:
                future.result()
        for pool in set(pools.values()):
            pool.close()
    return {"concerts_ms": sorted(timings["concerts"]), "users_ms": sorted(timings["users"]), "users_refused": refused}


def httpx_timeout(lab: Any, timeout: float | None, stall_ms: int = 1500) -> dict[str, Any]:
    """One call to users through a chaos proxy that holds every answer back `stall_ms`: with an httpx
    timeout the caller gets an error after `timeout` s; without one it waits as long as the stall."""
    import httpx

    from ..clients import chaos

    proxy = chaos.proxy(lab, "users")
    started = clock()
    with users_client(lab, timeout=timeout, base_url=proxy.url_for()) as client, \
            proxy.toxic("latency", latency=stall_ms):
        try:
            get_user(client)
            outcome = "answered"
        except httpx.TimeoutException as exc:
            outcome = type(exc).__name__
    return {"timeout_s": timeout, "outcome": outcome, "seconds": clock() - started}


def grpc_deadline(lab: Any, deadline_s: float, slow_ms: float = 1000) -> dict[str, Any]:
    """One GetUser RPC to a users service slowed by `slow_ms`, with a gRPC deadline of `deadline_s`."""
    import grpc

    from ..clients.faults import FaultRules
    from ..protos import ticketing_pb2 as pb
    from ..protos import ticketing_pb2_grpc as pb_grpc

    args.seconds("deadline_s", deadline_s, 0.001, 60)
    with grpc.insecure_channel(lab.endpoint("users")["grpc"]) as channel, FaultRules(lab, "users") as rules:
        stub = pb_grpc.UsersStub(channel)
        stub.GetUser(pb.GetUserRequest(user_id="u1"), timeout=5)  # connect first: time the call only
        with rules.injected("/ticketing.v1.Users/GetUser", added_latency_ms=slow_ms):
            started = clock()
            try:
                stub.GetUser(pb.GetUserRequest(user_id="u1"), timeout=deadline_s)
                code = "OK"
            except grpc.RpcError as exc:
                code = exc.code().name
            return {"deadline_s": deadline_s, "code": code, "seconds": clock() - started}
