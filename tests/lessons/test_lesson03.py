"""Lesson 03's claims fail when the world differs. Each test runs the lesson's own cells (demo
cells by their tag, claim cells by their `# Claim:` line) with one thing changed: the socket left
blocking, the pool running calls on the caller's thread, the sender not waiting, no faults on the
chain, no stall, no jitter, no budget, a breaker that never opens, one shared pool. The claim that
depended on it must fail; where a run is cheap, the unchanged world passes first as a control."""
import socket
import time
import types
from concurrent.futures import Executor, Future

import httpx
import pytest

import labs
from labs import chaos, check
from labs import resilience as rz
from labs.clients.ticketing import RestTicketing
from labs.lessons import handoff
from labs.lessons import resilience as rx
from labs.lessons import sync_async as sa

from labs.clients.faults import FaultRules

from lesson_cells import _cells, assert_claim_fails, assert_claim_holds, run, run_demo

LESSON = "03"


@pytest.fixture(scope="module")
def lab():
    return labs.start("orders", "rabbitmq", "chaos", progress=False)


def namespace(lab, **extra) -> dict:
    return {"lab": lab, "labs": labs, "check": check, "chaos": chaos, "sa": sa, "rx": rx, "rz": rz,
            "handoff": handoff, "httpx": httpx, "time": time, **extra}


def test_the_quadrants_hold_as_written(lab):
    ns = run_demo(LESSON, "quadrants", namespace(lab))
    ns["quadrants"] = [ns["sync_blocking"], ns["sync_non_blocking"], ns["async_blocking"], ns["async_non_blocking"]]
    assert_claim_holds(LESSON, "quadrants", ns)
    assert len(ns["sync_non_blocking"].polls) >= 5


def test_the_quadrants_claim_fails_when_the_socket_stays_blocking(lab, monkeypatch):
    monkeypatch.setattr(socket.socket, "setblocking", lambda self, flag: None)  # the mode switch is lost
    ns = run_demo(LESSON, "quadrants", namespace(lab))
    ns["quadrants"] = [ns["sync_blocking"], ns["sync_non_blocking"], ns["async_blocking"], ns["async_non_blocking"]]
    assert ns["sync_non_blocking"].polls == []
    assert_claim_fails(LESSON, "quadrants", ns, "each demo lands in its quadrant")


class OnTheCallersThread(Executor):
    """A pool in name only: submit() runs the call at once, on the caller's thread."""

    def submit(self, fn, *args, **kwargs):
        future = Future()
        future.set_result(fn(*args, **kwargs))
        return future


def test_the_quadrants_claim_fails_when_the_pool_calls_on_the_callers_thread(lab):
    ns = namespace(lab)
    first = True

    def edit(source):
        nonlocal first
        if first:  # after the setup cell has made its pool, swap it for one that is not
            first = False
            return source + "\npool = OnTheCallersThread()"
        return source
    ns["OnTheCallersThread"] = OnTheCallersThread
    run_demo(LESSON, "quadrants", ns, edit)
    ns["quadrants"] = [ns["sync_blocking"], ns["sync_non_blocking"], ns["async_blocking"], ns["async_non_blocking"]]
    assert ns["async_non_blocking"].synchronous  # the answer was read on the caller's thread
    assert_claim_fails(LESSON, "quadrants", ns, "each demo lands in its quadrant")


def test_the_hidden_dependency_claim_fails_when_the_sender_does_not_wait(lab):
    outbox = handoff.Outbox(lab, queue="test.lesson03.hidden")
    outbox.purge()
    courier = handoff.Courier(lab, queue="test.lesson03.hidden").start()
    not_waiting = types.SimpleNamespace(
        send_and_wait=lambda *a, **kw: handoff.send_and_wait(*a, **kw, wait=False),
        HiddenDependencyTimeout=handoff.HiddenDependencyTimeout,
        delivered_messages=handoff.delivered_messages)
    lab.kill("notifications")
    try:
        ns = run_demo(LESSON, "hidden", namespace(lab, outbox=outbox, courier=courier))
        assert ns["hidden"] == {"notifications down": "timed out", "notifications up": "delivered"}  # control
        lab.kill("notifications")
        ns = run_demo(LESSON, "hidden", namespace(lab, outbox=outbox, courier=courier, handoff=not_waiting))
        assert ns["hidden"]["notifications down"] == "delivered"
        assert_claim_fails(LESSON, "hidden dependency", ns, "fails and succeeds with notifications")
    finally:
        labs.start("notifications", progress=False)
        courier.stop()
        outbox.purge()
        outbox.close()


def test_the_notifications_down_claim_fails_when_notifications_is_up(lab):
    with RestTicketing(lab) as shop, httpx.Client(base_url=lab.endpoint("notifications")["http"]) as api:
        order = shop.place_order("u2", "c2")
        api.post("/notifications", json={"user_id": "u2", "message": "sync"}).raise_for_status()
    assert_claim_fails(LESSON, "notifications down", namespace(lab, order=order, sync_outcome="sent",
                                                               async_seconds=0.01))


def test_the_chain_claim_fails_without_faults_on_the_hops(lab):
    chain = sa.measure_order_chain(lab, error_rate=0.0, orders=30, seed=1)
    assert chain["measured"] == 1.0
    assert_claim_fails(LESSON, "chain", namespace(lab, chain=chain), "less available than its least")


def test_the_timeouts_claim_fails_without_a_stall(lab):
    ns = namespace(lab, users_faults=FaultRules(lab, "users"))
    source = next(s for s in code_cells() if "stalled = chaos.proxy" in s)
    run(source.replace("latency=1000", "latency=0").replace("added_latency_ms=1000", "added_latency_ms=0"), ns)
    assert all(outcome == "answered" for outcome, _ in ns["timeouts"].values())
    assert_claim_fails(LESSON, "timeouts", ns)


def code_cells() -> list[str]:
    return [c.source for c in _cells(LESSON)]


def test_the_jitter_claim_fails_without_jitter(lab):
    ns = run(next(s for s in code_cells() if s.startswith("import tenacity")), namespace(lab))
    no_jitter = lambda: ns["retry_policy"](jitter=False)
    ns["lockstep"] = rx.retry_waves(lab, no_jitter, label="no jitter")
    ns["jittered"] = rx.retry_waves(lab, no_jitter, label="'full jitter' without jitter")
    assert_claim_fails(LESSON, "jitter", ns, "with full jitter they are spread out")


def test_the_retry_storm_claim_fails_without_a_budget(lab):
    naive = rx.retry_storm(lab, requests=30, attempts=4)
    assert naive["amplification"] == 4.0
    assert_claim_fails(LESSON, "retry storm", namespace(lab, naive=naive, budgeted=naive),
                       "a retry budget keeps that close to 1")


def test_the_breaker_claims_fail_when_the_breaker_never_opens(lab):
    ns = namespace(lab, client=httpx.Client(base_url=lab.endpoint("users")["http"], timeout=1.0))
    breaker_cell = next(s for s in code_cells() if s.startswith("import pybreaker"))
    run(breaker_cell, ns)
    run_demo(LESSON, "breaker", ns)
    assert_claim_holds(LESSON, "breaker", ns)  # control: as written
    run(breaker_cell.replace("fail_max=5", "fail_max=100_000"), ns)  # switched off: it never opens
    run_demo(LESSON, "breaker", ns)
    assert_claim_fails(LESSON, "breaker", ns, "opened, tried half-open")
    ns["breaker_log"].states.append((9.9, "half-open"))  # even if the states passed, the load shows
    ns["breaker_log"].states.append((9.9, "open"))
    ns["breaker_log"].states.append((9.9, "closed"))
    assert_claim_fails(LESSON, "breaker", ns, "few calls reached it")


def test_the_bulkhead_claim_fails_with_one_shared_pool(lab):
    shared = rx.bulkhead_demo(lab, isolated=False, slow_ms=400)
    assert_claim_fails(LESSON, "bulkhead", namespace(lab, shared=shared, isolated=shared),
                       "with a bulkhead per dependency")
