"""Lesson 03's checks prove their mechanisms: with the mechanism removed (no breaker, no jitter, no
hidden wait, no budget, no bulkhead, no timeout) the same check fails. Each test runs the lesson's
measurement with the mechanism off and asserts that the lesson's claim raises ClaimNotShown; the
breaker, jitter and hidden-dependency tests also run it with the mechanism on, as a control."""
import time

import pytest

import labs
from labs import check
from labs.lessons import handoff
from labs import resilience as rz
from labs.lessons import resilience as rx

NotShown = check.ClaimNotShown


@pytest.fixture(scope="module")
def lab():
    return labs.start("orders", "rabbitmq", progress=False)


def claim_breaker_sheds_load(run):
    check.claim("while users failed, few calls reached it", run["reached_users_while_failing"] / run["calls_while_failing"],
                at_most=0.34, unit="of the calls made then")


def claim_breaker_cycles(breaker):
    check.claim("the breaker opened, tried half-open, and closed again", breaker.states_seen(),
                holds=lambda s: "open" in s and "half-open" in s and s[-1] == "closed")


def test_the_breaker_claims_fail_without_a_breaker(lab):
    outage = [(0.4, 1.4)]
    with_breaker = rz.RecordedBreaker(fail_max=5, reset_timeout=0.3)
    run = rx.breaker_under_faults(lab, with_breaker, faults=outage, duration=2.2)
    claim_breaker_sheds_load(run)
    claim_breaker_cycles(with_breaker)
    without = rz.RecordedBreaker(fail_max=5, reset_timeout=0.3, enabled=False)
    run = rx.breaker_under_faults(lab, without, faults=outage, duration=2.2)
    with pytest.raises(NotShown):
        claim_breaker_sheds_load(run)
    with pytest.raises(NotShown):
        claim_breaker_cycles(without)


def claim_jitter_spreads(log):
    check.claim("with full jitter they are spread out", rz.spread_ms(log.times_of(4)), at_least=60, unit="ms (std dev)")


def test_the_jitter_claim_fails_without_jitter(lab):
    claim_jitter_spreads(rx.retry_waves(lab, jitter=True, clients=10, attempts=4, base=0.1))
    with pytest.raises(NotShown):
        claim_jitter_spreads(rx.retry_waves(lab, jitter=False, clients=10, attempts=4, base=0.1))


def hidden_dependency(lab, outbox, wait):
    started = time.monotonic()
    try:
        handoff.send_and_wait(outbox, lab, "u4", f"hidden {started}", deadline_s=1, wait=wait)
        outcome = "delivered"
    except handoff.HiddenDependencyTimeout:
        outcome = "timed out"
    return outcome, time.monotonic() - started


def claim_hidden_dependency(outcome, seconds, deadline_s=1):
    check.claim("the 'asynchronous' sender that waits for delivery failed like a synchronous call", outcome,
                equals="timed out")
    check.claim("and it held its caller for the whole deadline", seconds, at_least=deadline_s, unit="s")


def test_the_hidden_dependency_claim_fails_when_the_sender_does_not_wait(lab):
    outbox = handoff.Outbox(lab, queue="test.lesson03.hidden")
    outbox.purge()
    lab.kill("notifications")
    try:
        claim_hidden_dependency(*hidden_dependency(lab, outbox, wait=True))
        with pytest.raises(NotShown):
            claim_hidden_dependency(*hidden_dependency(lab, outbox, wait=False))
    finally:
        labs.start("notifications", progress=False)
        outbox.purge()
        outbox.close()


def test_the_retry_storm_claim_fails_without_a_budget(lab):
    naive = rx.retry_storm(lab, requests=30, attempts=4)
    assert naive["amplification"] == 4.0
    with pytest.raises(NotShown):
        check.claim("a retry budget keeps that close to 1 call per request", naive["amplification"], at_most=1.3, unit="x")


def test_the_bulkhead_claim_fails_with_one_shared_pool(lab):
    shared = rx.bulkhead_demo(lab, isolated=False, slow_ms=400)
    with pytest.raises(NotShown):
        check.claim("with a bulkhead per dependency, concerts stayed fast", max(shared["concerts_ms"]), at_most=150,
                    unit="ms")


def test_the_timeout_claim_fails_without_a_timeout(lab):
    no_timeout = rx.httpx_timeout(lab, timeout=None, stall_ms=1000)
    with pytest.raises(NotShown):
        check.claim("with a 0.3 s httpx timeout it got an error instead, long before",
                    (no_timeout["outcome"], no_timeout["seconds"] < 0.8), equals=("ReadTimeout", True))
