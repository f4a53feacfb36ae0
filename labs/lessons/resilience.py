"""Lesson 03's resilience experiments on the real users service: retry waves with and without jitter,
a retry storm against a budget, a breaker under faults, bulkheads, timed calls.

    from labs.lessons import resilience as rx
    rx.retry_waves(lab, lambda: tenacity.Retrying(...), clients=10)   # when each attempt started
    rx.retry_storm(lab, requests=50, attempts=4)          # calls that reached users, per request
    rx.breaker_under_faults(lab, call, breaker, faults=[(0.4, 1.4)])  # `call` uses a pybreaker breaker

The policies themselves (a tenacity Retrying, a pybreaker CircuitBreaker) are written in the
lesson's cells and handed in; these functions run the schedule, count and record for the plots.

Each puts its fault on `GET /users/{user_id}` with FaultRules, so the service itself counts the calls
that reached it (a rule's `matched`): what a retry storm does to a dependency is measured there.

Layer: lessons (the policies themselves are labs.tools.resilience).
"""
from __future__ import annotations

import threading
import time
from concurrent.futures import Future
from typing import Any, Callable, Sequence

import pybreaker

from ..runtime import args
from ..tools.resilience import (MAX_POOL, AttemptLog, BreakerLog, Bulkhead, BulkheadFull, RetryBudget, clock,
                                retrying)

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


def retry_waves(lab: Any, make_policy: Callable[[], Any], label: str = "attempts", clients: int = 10) -> AttemptLog:
    """`clients` threads call users at the same moment while the link to it is down (a chaos proxy
    refusing connections), each through its own policy from `make_policy()` (a tenacity Retrying,
    or anything called as `policy(fn, *args)`). Returns when each attempt started. A refused
    connection fails in microseconds, so any spread between the clients comes from the waits, not
    from a busy server answering them one by one."""
    import httpx

    from ..clients import chaos

    args.whole("clients", clients, 2, 100)
    if not callable(make_policy):
        raise ValueError(f"make_policy must be a function returning a retry policy, got {make_policy!r}")
    log = AttemptLog(label)
    go = threading.Barrier(clients + 1)

    def one_client() -> None:
        policy, tries, waited = make_policy(), [0], [0.0]

        def attempt() -> dict:
            tries[0] += 1
            log.record(tries[0])
            return get_user(session)

        def note_wait(state) -> None:  # tenacity's before_sleep: the wait it chose, before sleeping
            waited[0] += state.next_action.sleep
            log.due.append((waited[0], state.attempt_number + 1))

        if hasattr(policy, "copy"):  # a tenacity Retrying: note its waits too
            policy = policy.copy(before_sleep=note_wait)

        go.wait()
        try:
            policy(attempt)
        except httpx.HTTPError:
            pass

    proxy = chaos.proxy(lab, "users", name="users-retry-waves")
    # One httpx client serves every thread (it is thread-safe): a client each would cost ~50 ms apiece.
    with users_client(lab, base_url=proxy.url_for()) as session, proxy.down():
        threads = [threading.Thread(target=one_client, daemon=True) for _ in range(clients)]
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


def breaker_under_faults(lab: Any, call: Callable[[], Any], breaker: pybreaker.CircuitBreaker,
                         faults: Sequence[tuple[float, float]] = ((0.5, 1.7),), duration: float = 2.8,
                         every: float = 0.02) -> tuple[dict[str, Any], BreakerLog]:
    """Run `call()` (which goes through `breaker` and falls back when it fails) every `every`
    seconds for `duration` seconds, while users fails every call inside the `faults` windows
    (seconds from the start). Counts the answers (a dict marked `stale` is a fallback) and, at
    users itself, the calls that reached it while it failed. Returns (counts, the breaker's log)."""
    from ..clients.faults import FaultRules

    args.seconds("duration", duration, 0.1, 60)
    args.seconds("every", every, 0.001, 10)
    if not isinstance(breaker, pybreaker.CircuitBreaker):
        raise ValueError(f"breaker must be a pybreaker.CircuitBreaker, got {breaker!r}")
    log = BreakerLog()
    breaker.add_listener(log)
    answered = fallbacks = attempted_in_faults = reached_in_faults = 0
    try:
        with FaultRules(lab, "users") as rules:
            call()  # a first good answer, for the fallback to fall back on
            log.started, log.let_through = clock(), 0
            rule_id = None
            while (now := clock() - log.started) < duration:
                failing = any(since <= now < until for since, until in faults)
                if failing and rule_id is None:
                    rule_id = rules.add(USERS_ROUTE, error_rate=1.0, http_status=503)
                elif not failing and rule_id is not None:
                    reached_in_faults += rules.remove(rule_id)["matched"]
                    rule_id = None
                attempted_in_faults += failing
                through = log.let_through
                try:
                    answer = call()
                except Exception:  # noqa: BLE001  (a call without a fallback: counted as unanswered)
                    answer = None
                stale = isinstance(answer, dict) and answer.get("stale", False)
                let_through = log.let_through > through
                outcome = "rejected" if not let_through else "failed" if stale or answer is None else "ok"
                log.calls.append((now, outcome))
                answered += answer is not None
                fallbacks += bool(stale)
                time.sleep(max(0.0, every - (clock() - log.started - now)))
            if rule_id is not None:
                reached_in_faults += rules.remove(rule_id)["matched"]
    finally:
        breaker.remove_listener(log)
    return ({"calls": len(log.calls), "answered": answered, "fallbacks": fallbacks,
             "calls_while_failing": attempted_in_faults, "reached_users_while_failing": reached_in_faults},
            log)


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


def timed(call: Callable[[], Any]) -> tuple[str, float]:
    """(outcome, seconds) of one call: "answered", or the name of the timeout that ended it
    (httpx's ReadTimeout, ..., or a gRPC status code such as DEADLINE_EXCEEDED)."""
    import grpc
    import httpx

    started = clock()
    try:
        call()
        outcome = "answered"
    except httpx.TimeoutException as exc:
        outcome = type(exc).__name__
    except grpc.RpcError as exc:
        outcome = exc.code().name
    return outcome, round(clock() - started, 2)
