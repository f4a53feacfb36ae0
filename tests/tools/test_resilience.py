"""The lesson 03 toolkit: retries (tenacity) with full jitter and a retry budget, the recorded
pybreaker breaker, the bulkhead, fallbacks, the quadrant demos, the availability arithmetic and
the RabbitMQ hand-off."""
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pybreaker
import pytest

import labs
from labs.lessons import handoff
from labs.lessons import sync_async as sa
from labs import resilience as rz
from labs.lessons import resilience as rx


class Flaky:
    """Fails the first `failures` calls, then answers."""

    def __init__(self, failures):
        self.failures, self.calls = failures, 0

    def __call__(self):
        self.calls += 1
        if self.calls <= self.failures:
            raise ConnectionError(f"failure {self.calls}")
        return "ok"


# ---- retries ---------------------------------------------------------------------------------------

def test_retrying_retries_until_success_and_reraises_the_last_error():
    assert rz.retrying(attempts=4, base=0)(Flaky(3)) == "ok"
    flaky = Flaky(10)
    with pytest.raises(ConnectionError, match="failure 4"):
        rz.retrying(attempts=4, base=0)(flaky)
    assert flaky.calls == 4


def test_retrying_retries_only_the_errors_named():
    flaky = Flaky(1)
    with pytest.raises(ConnectionError):
        rz.retrying(attempts=4, base=0, retry_on=ValueError)(flaky)
    assert flaky.calls == 1


def test_backoff_doubles_without_jitter_and_is_drawn_below_it_with_full_jitter():
    exact = rz.retrying(attempts=4, base=0.1, jitter=False).wait
    jittered = rz.full_jitter(0.1, 5.0, seed=1)

    class State:  # the one field tenacity's wait strategies read
        def __init__(self, n):
            self.attempt_number = n

    assert [round(exact(State(n)), 3) for n in (1, 2, 3, 4)] == [0.1, 0.2, 0.4, 0.8]
    draws = [jittered(State(4)) for _ in range(200)]
    assert all(0 <= d <= 0.8 for d in draws) and max(draws) - min(draws) > 0.5
    again = rz.full_jitter(0.1, 5.0, seed=1)
    assert [again(State(4)) for _ in range(200)] == draws, "a seed repeats the waits"


def test_attempt_log_records_each_attempt():
    log = rz.AttemptLog()
    rz.retrying(attempts=3, base=0, log=log)(Flaky(2))
    assert [n for _, n in log.attempts] == [1, 2, 3]


def test_a_retry_budget_caps_retries_at_its_share_of_requests():
    budget = rz.RetryBudget(ratio=0.1, min_retries=2)
    calls = 0
    for _ in range(50):
        flaky = Flaky(100)
        with pytest.raises(ConnectionError):
            rz.retrying(attempts=4, base=0, budget=budget)(flaky)
        calls += flaky.calls
    assert budget.requests == 50 and budget.retries == 2 + 5
    assert calls == 50 + 7
    assert "refused" in repr(budget)


@pytest.mark.parametrize("kwargs, message", [
    ({"attempts": 0}, "attempts must be a whole number from 1 to 20"),
    ({"base": -1}, "base must be a number of seconds from 0 to 60"),
    ({"cap": "1"}, "cap must be a number of seconds"),
])
def test_retrying_rejects_bad_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        rz.retrying(**kwargs)


def test_retry_budget_rejects_bad_settings():
    with pytest.raises(ValueError, match="ratio must be a number from 0 to 1"):
        rz.RetryBudget(ratio=2)
    with pytest.raises(ValueError, match="min_retries must be a whole number from 0 to 1000"):
        rz.RetryBudget(min_retries=-1)


# ---- breaker, fallback, bulkhead ---------------------------------------------------------------------

def test_the_breaker_log_notes_a_pybreaker_breakers_states_and_the_calls_it_let_through():
    breaker = pybreaker.CircuitBreaker(fail_max=3, reset_timeout=0.1)
    log = rz.BreakerLog()
    breaker.add_listener(log)
    failing = Flaky(3)
    for _ in range(3):
        with pytest.raises((ConnectionError, pybreaker.CircuitBreakerError)):
            breaker.call(failing)
    assert breaker.current_state == "open"
    with pytest.raises(pybreaker.CircuitBreakerError):
        breaker.call(failing)
    assert failing.calls == 3 and log.let_through == 3, "an open breaker does not call"
    time.sleep(0.15)
    assert breaker.call(failing) == "ok"
    assert log.states_seen() == ["closed", "open", "half-open", "closed"] and log.let_through == 4



def test_a_bulkhead_runs_its_share_queues_its_waiting_room_and_refuses_the_rest():
    release = threading.Event()
    with rz.Bulkhead("slow", max_concurrent=2, max_waiting=1) as pool:
        futures = [pool.submit(release.wait, 5) for _ in range(3)]
        with pytest.raises(rz.BulkheadFull, match="2 calls running and 1 waiting"):
            pool.submit(release.wait, 5)
        release.set()
        assert all(f.result() for f in futures)
        assert pool.refused == 1
        assert pool.submit(lambda: "again").result() == "again", "slots come back when calls end"


def test_bulkhead_rejects_bad_sizes():
    with pytest.raises(ValueError, match="max_concurrent must be a whole number from 1 to 256"):
        rz.Bulkhead("x", 0)


def test_spread_and_percentile():
    assert rz.spread_ms([1.0, 1.0, 1.0]) == 0
    assert round(rz.spread_ms([0.0, 0.2]), 1) == 141.4
    assert rz.percentile_ms([0.001] * 99 + [1.0]) == 1000.0
    with pytest.raises(ValueError):
        rz.spread_ms([1.0])


# ---- availability arithmetic ---------------------------------------------------------------------------

def test_chain_availability_is_the_product():
    assert round(sa.chain_availability(0.999, 10), 4) == 0.99
    with pytest.raises(ValueError, match="per_call must be a number from 0 to 1"):
        sa.chain_availability(1.5, 3)
    with pytest.raises(ValueError, match="calls must be a whole number from 1 to 10000"):
        sa.chain_availability(0.9, 0)


# ---- on the lab's services -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def lab():
    return labs.start("orders", "rabbitmq", progress=False)


def test_a_timeline_measures_blocking_from_work_and_synchronous_from_the_reading_thread(lab):
    client = httpx.Client(base_url=lab.endpoint("users")["http"], event_hooks={"response": [sa.note_reader]})
    with ThreadPoolExecutor(2) as pool:
        here = sa.Timeline("here")
        here.answered(client.get("/users/u1"))
        here.work(2)
        there = sa.Timeline("there")
        pool.submit(client.get, "/users/u1").add_done_callback(
            lambda f: there.answered(f.result(), taken_by="callback"))
        there.work(30)
        there.wait_for_answer()
    assert (here.blocking, here.synchronous) == (True, True)
    assert (there.blocking, there.synchronous) == (False, False) and there.taken_by == "callback"
    assert list(sa.summary([here, there])["measured quadrant"]) == ["sync + blocking", "async + non-blocking"]
    with pytest.raises(ValueError, match="not been answered"):
        sa.Timeline("never").work_while_waiting()
    client.close()


def test_a_chain_of_real_orders_fails_about_as_often_as_the_product_of_its_hops(lab):
    chain = sa.measure_order_chain(lab, error_rate=0.1, orders=60, seed=3)
    assert chain["hops"] == 4 and len(chain["per_hop_measured"]) == 4
    assert abs(chain["measured"] - chain["predicted_from_hops"]) < 0.12
    with pytest.raises(ValueError, match="error_rate must be a number from 0 to 1"):
        sa.measure_order_chain(lab, error_rate=2, orders=1)


def test_the_courier_delivers_what_the_outbox_sent(lab):
    courier = handoff.Courier(lab, queue="test.lesson03").start()
    outbox = handoff.Outbox(lab, queue="test.lesson03")
    outbox.purge()
    token = f"test {time.time()}"
    outbox.send("u3", token)
    deadline = time.monotonic() + 10
    while courier.delivered < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert token in handoff.delivered_messages(lab, "u3")
    seconds = handoff.send_and_wait(outbox, lab, "u3", token + " waited", deadline_s=5)
    assert seconds < 5
    courier.stop()
    outbox.close()
    assert not courier.running


def test_handoff_rejects_bad_settings(lab):
    with pytest.raises(ValueError, match="retry_every must be a number of seconds from 0.01 to 60"):
        handoff.Courier(lab, retry_every=0)
    with pytest.raises(ValueError, match="deadline_s must be a number of seconds above 0"):
        handoff.send_and_wait(None, lab, "u1", "x", deadline_s=0)


def test_timeouts_and_deadlines_end_slow_calls_early(lab):
    from labs import chaos
    proxy = chaos.proxy(lab, "users", name="users-test-timed")
    with proxy.toxic("latency", latency=800):
        outcome, seconds = rx.timed(lambda: httpx.get(f"{proxy.url_for()}/users/u1", timeout=0.2))
    assert outcome == "ReadTimeout" and seconds < 0.7
    assert rx.timed(lambda: None)[0] == "answered"


def test_the_hidden_dependency_also_times_out_when_notifications_is_only_slow(lab):
    from labs.clients.faults import FaultRules
    courier = handoff.Courier(lab, queue="test.lesson03.slow").start()
    outbox = handoff.Outbox(lab, queue="test.lesson03.slow")
    outbox.purge()
    try:
        with FaultRules(lab, "notifications").injected("POST /notifications", added_latency_ms=1500):
            with pytest.raises(handoff.HiddenDependencyTimeout):
                handoff.send_and_wait(outbox, lab, "u5", f"slow {time.time()}", deadline_s=0.8)
    finally:
        courier.stop()
        outbox.purge()
        outbox.close()
